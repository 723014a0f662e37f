// SIGHUP: read the config file again (the same load as at start) and switch to
// it for the next transaction. With workers the primary reads and validates
// once, then every worker builds the new parts and says so before any switches
// (prepare, then commit): a worker that cannot build them calls the reload off
// for all, so no two workers ever run different policies.

import { ConfigError, loadConfigFile, parseConfigObject } from '../config/load.js';
import { planReload } from '../config/reload-plan.js';
import type { App, PreparedReload } from '../app.js';
import type { Logger } from '../observability/logger.js';
import type { IpcChannel } from './ipc.js';

/** A worker busy past this counts as failing to apply: the reload is called off. */
const WORKER_ANSWER_MS = 10_000;

export interface ReloadTarget {
  readonly app: Pick<App, 'prepareReload' | 'loaded' | 'metrics'>;
  readonly configPath: string;
  readonly logger: Logger;
  /** With workers: the channels of the listening ones. */
  readonly workers?: () => readonly IpcChannel[];
}

const within = <T>(ms: number, work: Promise<T>, what: string): Promise<T> =>
  Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms).unref())]);

/** Reads and applies the config file once; resolves true when the new config runs everywhere. Never throws. */
export async function reloadConfig(target: ReloadTarget): Promise<boolean> {
  const { app, logger } = target;
  let own: PreparedReload | null = null;
  const workers = target.workers?.() ?? [];
  let prepared: IpcChannel[] = [];
  try {
    const plan = planReload(app.loaded().config, loadConfigFile(target.configPath), target.configPath);
    for (const key of plan.needsRestart) logger.warn({ event: 'config_reload_kept', key }, `config key ${key} changed: needs a restart; kept as it was`);
    own = app.prepareReload(plan.effective);
    const answers = await Promise.allSettled(
      workers.map(async (channel) => {
        await within(WORKER_ANSWER_MS, channel.request('config.prepare', plan.effective), 'a worker');
        prepared.push(channel);
      }),
    );
    const failed = answers.find((a): a is PromiseRejectedResult => a.status === 'rejected');
    if (failed) throw new WorkerReloadError(`a worker could not apply the config: ${(failed.reason as Error).message}`);
    await Promise.all(workers.map((channel) => within(WORKER_ANSWER_MS, channel.request('config.commit'), 'a worker')));
    prepared = [];
    own.commit();
    app.metrics.configReloads.inc({ result: 'success' });
    app.metrics.configLastReloadSuccess.set(1);
    app.metrics.configLoadedAt.set(Math.floor(app.loaded().loadedAt / 1000));
    logger.info({ event: 'config_reloaded', config: target.configPath, hash: own.hash }, 'config reloaded: the next transaction runs under it');
    return true;
  } catch (err) {
    own?.abort();
    await Promise.all(prepared.map((channel) => within(WORKER_ANSWER_MS, channel.request('config.abort'), 'a worker').catch(() => undefined)));
    app.metrics.configReloads.inc({ result: 'failure' });
    app.metrics.configLastReloadSuccess.set(0);
    // The same line `serve` prints at start for this config, so the operator reads one message either way.
    const message = err instanceof ConfigError || err instanceof WorkerReloadError ? err.message : String(err);
    logger.error({ event: 'config_reload_failed', error: message }, `config reload refused: ${message}; the running config stays in force`);
    return false;
  }
}

export class WorkerReloadError extends Error {
  override readonly name = 'WorkerReloadError';
}

/**
 * SIGHUP reloads, from the moment this is called (Node's default for HUP would
 * end the process): a HUP before the app has started waits and runs once it has,
 * and a HUP while a reload runs makes one more run after it (the file may have
 * changed again).
 */
export function reloadOnHangup(): { start(target: ReloadTarget): void } {
  let target: ReloadTarget | null = null;
  let running = false;
  let again = false;
  const run = () => {
    if (!target) {
      again = true;
      return;
    }
    if (running) {
      again = true;
      return;
    }
    running = true;
    void reloadConfig(target).finally(() => {
      running = false;
      if (again) {
        again = false;
        run();
      }
    });
  };
  process.on('SIGHUP', run);
  return {
    start(started) {
      target = started;
      if (again) {
        again = false;
        run();
      }
    },
  };
}

/** The worker's end: builds the parts on prepare, switches on commit, drops them on abort. */
export function answerReloads(channel: IpcChannel, app: Pick<App, 'prepareReload'>): void {
  let pending: PreparedReload | null = null;
  channel.handle('config.prepare', (body) => {
    pending?.abort();
    pending = app.prepareReload(parseConfigObject(body, 'the config from the primary'));
    return pending.hash;
  });
  channel.handle('config.commit', () => {
    if (!pending) throw new Error('no config prepared');
    pending.commit();
    pending = null;
    return null;
  });
  channel.handle('config.abort', () => {
    pending?.abort();
    pending = null;
    return null;
  });
}
