import type { RedisClient } from './redis-client.js';
import type { DeliveryLedger } from './message-store.js';
import { awaitReplicas, NO_REPLICA_WAIT, type ReplicaWait } from './redis-replicas.js';

/**
 * The shared delivery ledger: one Redis set of accepted recipients per message
 * digest, expiring after store.ledgerHours, so a 451 on one instance and the
 * retry on another send each copy once. Its keys carry the store's hash tag,
 * so they live in the same Cluster slot as the records.
 */
export class RedisLedger implements DeliveryLedger {
  // Another instance may have written an entry: always look.
  readonly mayHoldEntries = true;

  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    private readonly ttlMs: number,
    private readonly guard: <T>(fn: () => Promise<T>) => Promise<T>,
    private readonly replicaWait: ReplicaWait = NO_REPLICA_WAIT,
    /** The connection whose writes the WAIT covers (see RedisRecords.confirming). */
    private readonly confirming: RedisClient = client,
  ) {}

  async acceptedRecipients(digest: string): Promise<ReadonlySet<string>> {
    return new Set(await this.guard(() => this.client.smembers(this.prefix + digest)));
  }

  async recordAccepted(digest: string, recipients: readonly string[]): Promise<void> {
    if (recipients.length === 0) return;
    const key = this.prefix + digest;
    await this.guard(async () => {
      const replies = await this.confirming
        .multi()
        .sadd(key, ...recipients.map((r) => r.toLowerCase()))
        .pexpire(key, this.ttlMs)
        .exec();
      const failed = replies?.find(([err]) => err);
      if (!replies || failed) throw failed?.[0] ?? new Error('ledger write was not executed');
      // Lost in a failover, the retry on another instance would send these copies again.
      await awaitReplicas(this.confirming, this.replicaWait);
    });
  }

  async forget(digest: string): Promise<void> {
    await this.guard(() => this.client.del(this.prefix + digest));
  }
}
