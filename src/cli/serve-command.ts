import { createApp } from '../app.js';
import type { MailGuardConfig } from '../config/schema.js';
import { createLogger } from '../observability/logger.js';
import { runClusterServe } from '../workers/cluster-serve.js';
import { stopOnSignals } from '../workers/shutdown-signals.js';
import { reloadOnHangup } from '../workers/config-reload.js';
import { writePidFile } from '../workers/pid-file.js';
import { workerCount } from '../workers/worker-count.js';

/** Runs until SIGTERM/SIGINT: a first signal drains, a second one forces the exit. SIGHUP reloads the config. */
export async function runServe(config: MailGuardConfig, configPath: string): Promise<void> {
  const logger = createLogger(config.log);
  const hangups = reloadOnHangup();
  const workers = workerCount(config);
  // One worker is today's single process: no cluster, no IPC on any path.
  if (workers > 1) return runClusterServe(config, configPath, logger, workers, hangups);
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
  const removePidFile = writePidFile(config);
  hangups.start({ app, configPath, logger });
  stopOnSignals(logger, config.shutdownGraceSeconds, {
    async stop() {
      await app.stop();
      removePidFile();
    },
  });
}
