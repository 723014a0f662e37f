import type { Logger } from 'pino';
import type { MessageStore } from '../store/message-store.js';
import { UNDECIDED } from './lifecycle.js';

const DAY_MS = 86_400_000;

/**
 * Removes decided records older than `retentionDays`, now and then every
 * `intervalMs`. Held and approved records are never removed (the store's purge
 * refuses them), however old: held mail is never dropped silently.
 */
export function startRetention(store: MessageStore, retentionDays: number, logger?: Pick<Logger, 'info' | 'warn'>, intervalMs = 3_600_000): { stop(): void } {
  let running = false;
  let stopped = false;
  const run = async (): Promise<void> => {
    // A slow purge must not overlap the next one.
    if (running || stopped) return;
    running = true;
    try {
      const olderThan = new Date(Date.now() - retentionDays * DAY_MS);
      const removed = await store.purge(olderThan, UNDECIDED);
      if (removed > 0) logger?.info({ removed, olderThan: olderThan.toISOString() }, 'retention: removed decided records');
    } catch (err) {
      // An outage now is retried at the next tick; retention is never worth a crash.
      logger?.warn({ err }, 'retention: purge failed');
    } finally {
      running = false;
    }
  };
  void run();
  const timer = setInterval(() => void run(), intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
