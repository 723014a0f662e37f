// An SMTP worker (see cluster-serve.ts for what runs where): the entry file
// node:cluster forks. It gets the config from the primary, runs the ingress
// role of the app, answers metric scrapes, and drains when the primary says so.

import cluster from 'node:cluster';
import { createApp } from '../app.js';
import { parseConfigObject } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { answerReloads } from './config-reload.js';
import { answerMetrics } from './cluster-metrics.js';
import { IpcChannel } from './ipc.js';
import { ledgerOverIpc } from './shared-ledger.js';
import { clientLimitsOverIpc } from './shared-limits.js';

async function main(): Promise<void> {
  const channel = IpcChannel.toPrimary();
  const clientLimits = clientLimitsOverIpc(channel);
  const fileLedger = ledgerOverIpc(channel);
  // A terminal's Ctrl-C reaches the whole process group: only the primary decides when workers drain.
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  // A HUP to the whole group reaches workers too: the primary's reload is what they follow.
  process.on('SIGHUP', ignore);
  const config = parseConfigObject(await channel.request('config'), 'the config from the primary');
  const logger = createLogger(config.log).child({ worker: cluster.worker?.id, pid: process.pid });
  const app = createApp(config, logger, {
    role: 'ingress',
    clientLimits,
    ...(config.store.type === 'file' ? { fileLedger } : {}),
  });
  answerMetrics(channel, app.metrics.registry);
  answerReloads(channel, app);
  if (config.store.type === 'file') await fileLedger.sync();
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    app.stop().then(
      () => {
        logger.info({ why }, 'worker stopped');
        logger.flush();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'worker stop failed');
        logger.flush();
        process.exit(1);
      },
    );
  };
  // A primary that dies takes its workers with it: node:cluster exits a worker whose IPC channel closes.
  channel.onNote('stop', () => stop('told by the primary'));
  const { smtpPort } = await app.start();
  logger.info({ smtp: `${config.smtp.host}:${smtpPort}` }, 'worker listening');
  channel.notify('listening', { smtpPort });
}

main().catch((err: unknown) => {
  process.stderr.write(`mail-guard worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
