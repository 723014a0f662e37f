// `serve` with `workers: N > 1`. What runs where, and why:
//
// - Each worker (worker-main.ts) runs the SMTP ingress, processMessage, its own
//   upstream pool and its own store handle: that is the per-message work, the
//   part that needs more cores. The file store is safe with several processes
//   on one path (records and claims take per-record directory locks and O_EXCL
//   claim files, the audit log chains under a lock, breakers fold one shared
//   violation log, notice marks are replaced under the lock; the store-contract
//   suite runs each with "sibling" instances), except its delivery ledger, which
//   one process owns: the primary keeps it and workers ask (shared-ledger.ts).
//   Redis is shared by design.
// - The primary runs what must happen once, not N times: the admin HTTP server
//   (API, console, one /metrics summed over the workers, readiness), the delay
//   scheduler and retention, and the counts behind per-client connection caps
//   and AUTH lockouts (shared-limits.ts), so a cap holds whichever worker a
//   connection reaches. It has its own upstream pool for releases and delayed
//   departures. It opens the store before forking, so the ledger file is
//   compacted before any worker can use it.
//
// On SIGHUP the primary reloads the config for all (config-reload.ts).
// On SIGTERM/SIGINT the primary stops counting workers as listening (readiness
// off), tells each worker to drain (App.stop: no new sessions, in-flight
// transactions finish), waits for all, then stops its own parts.

import { fileURLToPath } from 'node:url';
import { createApp } from '../app.js';
import type { MailGuardConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { ClusterRegistry } from './cluster-metrics.js';
import { ClientLimitsHost } from './shared-limits.js';
import { LedgerHost } from './shared-ledger.js';
import type { reloadOnHangup } from './config-reload.js';
import { writePidFile } from './pid-file.js';
import { stopOnSignals } from './shutdown-signals.js';
import { WorkerSupervisor } from './supervisor.js';

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));

export async function runClusterServe(
  config: MailGuardConfig,
  configPath: string,
  logger: Logger,
  count: number,
  hangups: ReturnType<typeof reloadOnHangup>,
): Promise<void> {
  const limits = new ClientLimitsHost(config.smtp);
  // Assigned before any worker is forked (app.start() runs first), read only when a worker asks.
  let ledgerOf: () => ReturnType<typeof app.store> = () => null;
  const ledger = config.store.type === 'file' ? new LedgerHost(() => ledgerOf()?.ledger) : null;
  const supervisor = new WorkerSupervisor({
    count,
    exec: WORKER_MAIN,
    logger,
    attach(workerId, channel) {
      // The validated config travels over IPC: every worker, restarted ones too, runs the one the primary loaded.
      // After a reload, the reloaded one: a worker started later must not run the old policy.
      channel.handle('config', () => app.loaded().config);
      limits.attach(workerId, channel);
      ledger?.attach(workerId, channel);
    },
    detach(workerId) {
      limits.detach(workerId);
      ledger?.detach(workerId);
    },
    onUnexpectedExit: () => app.metrics.workerRestarts.inc(),
  });
  const app = createApp(config, logger, {
    role: 'primary',
    metricsRegistry: (own) => new ClusterRegistry(own, () => supervisor.channels()),
    workers: () => ({ listening: supervisor.listening(), wanted: count }),
  });
  ledgerOf = () => app.store();
  const { adminPort } = await app.start();
  let smtpPort: number;
  try {
    smtpPort = await supervisor.start();
  } catch (err) {
    supervisor.kill();
    await app.stop();
    throw err;
  }
  app.metrics.watchWorkers(() => supervisor.listening());
  logger.info(
    {
      config: configPath,
      smtp: `${config.smtp.host}:${smtpPort}`,
      admin: `${config.admin.host}:${adminPort}`,
      mode: app.mode,
      workers: count,
      upstream: config.upstream ? `${config.upstream.host}:${config.upstream.port}` : null,
    },
    app.mode === 'rehearsal' ? 'mail-guard listening in rehearsal mode: nothing leaves this machine, every message is captured' : 'mail-guard listening',
  );
  const removePidFile = writePidFile(config);
  hangups.start({ app, configPath, logger, workers: () => supervisor.channels() });
  stopOnSignals(logger, config.shutdownGraceSeconds, {
    async stop() {
      app.beginDrain();
      await supervisor.stop();
      await app.stop();
      removePidFile();
    },
    force: () => supervisor.kill(),
  });
}
