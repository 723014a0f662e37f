import type { Logger } from '../observability/logger.js';

export interface Stoppable {
  /** The drain: resolves once everything has stopped. */
  stop(): Promise<void>;
  /** Runs before a forced exit (a second signal, or the grace period over). */
  force?(): void;
}

/** A first SIGTERM/SIGINT drains, a second one (or the grace period running out) forces the exit. */
export function stopOnSignals(logger: Logger, graceSeconds: number, service: Stoppable): void {
  let stopping = false;
  const forceExit = () => {
    service.force?.();
    logger.flush();
    process.exit(1);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      forceExit();
    }
    stopping = true;
    logger.info({ signal, graceSeconds }, 'draining');
    const force = setTimeout(() => {
      logger.error('grace period over: exiting with transactions still open');
      forceExit();
    }, graceSeconds * 1000);
    force.unref();
    service.stop().then(
      () => {
        logger.info('stopped');
        logger.flush();
        process.exitCode = 0;
      },
      (err: unknown) => {
        logger.error({ err }, 'stop failed');
        forceExit();
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
