import type { RedisClient } from './redis-client.js';
import { markLifetimeMs } from './mark-key.js';
import type { NoticeMarks } from './message-store.js';

/**
 * The shared marks: `SET <prefix><key> 1 PX <ms> NX`, so of every instance on
 * one Redis exactly one is first per key and period, and Redis itself drops a
 * mark when it expires. The keys carry the store's hash tag (same Cluster slot).
 */
export class RedisMarks implements NoticeMarks {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    private readonly guard: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {}

  async firstWithin(key: string, ttlSeconds: number): Promise<boolean> {
    const lifetimeMs = markLifetimeMs(key, ttlSeconds);
    const reply = await this.guard(() => this.client.set(this.prefix + key, '1', 'PX', lifetimeMs, 'NX'));
    return reply === 'OK';
  }
}
