import { createApp } from '../app.js';
import type { MailGuardConfig } from '../config/schema.js';
import { createLogger } from '../observability/logger.js';

/** Runs until SIGTERM/SIGINT: a first signal drains, a second one forces the exit. */
export async function runServe(config: MailGuardConfig, configPath: string): Promise<void> {
  const logger = createLogger(config.log);
  const app = createApp(config, logger);
  const { smtpPort, adminPort } = await app.start();
  logger.info(
    {
      config: configPath,
      smtp: `${config.smtp.host}:${smtpPort}`,
      admin: `${config.admin.host}:${adminPort}`,
      mode: app.mode,
      upstream: config.upstream ? `${config.upstream.host}:${config.upstream.port}` : null,
    },
    app.mode === 'rehearsal' ? 'mail-guard listening in rehearsal mode: nothing leaves this machine, every message is captured' : 'mail-guard listening',
  );
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      logger.flush();
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, 'draining');
    const force = setTimeout(() => {
      logger.error('grace period over: exiting with transactions still open');
      logger.flush();
      process.exit(1);
    }, config.shutdownGraceSeconds * 1000);
    force.unref();
    app.stop().then(
      () => {
        logger.info('stopped');
        logger.flush();
        process.exitCode = 0;
      },
      (err: unknown) => {
        logger.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
