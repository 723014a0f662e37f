import type { RedisClient } from './redis-client.js';
import { StoreUnavailableError } from './message-store.js';

/**
 * store.redisWaitReplicas: how many replicas must hold a write before the
 * store says it is done. Redis replicates asynchronously, so a primary that
 * acknowledged a write and died before sending it on takes the write with it
 * when Sentinel promotes a replica: held mail answered 250 would be gone.
 * WAIT after each durable write closes that gap; a write the replicas did not
 * confirm in time is an outage (the mailer gets 451 and tries again).
 */
export interface ReplicaWait {
  readonly replicas: number;
  readonly timeoutMs: number;
}

/** The write is on the primary, but fewer replicas than asked confirmed it in time. */
export class ReplicaShortfallError extends StoreUnavailableError {}

/** Nothing to wait for: one Redis, or an operator who accepts the gap. */
export const NO_REPLICA_WAIT: ReplicaWait = { replicas: 0, timeoutMs: 0 };

/**
 * WAIT for every write this connection made so far. When the replicas fall
 * short the write is still on the primary: the store takes back what it can (a
 * record put, a claim taken) and the caller answers 451. Should the primary
 * die before that, the write either died with it or reached a replica late: a
 * held record may then exist twice (the mailer's retry makes another), never
 * zero times after a 250.
 */
export async function awaitReplicas(client: RedisClient, wait: ReplicaWait): Promise<void> {
  if (wait.replicas <= 0) return;
  // The config refuses this with a Cluster, where WAIT would reach an arbitrary node, not the records' one.
  const acknowledged = Number(await client.wait(wait.replicas, wait.timeoutMs));
  if (acknowledged < wait.replicas) {
    throw new ReplicaShortfallError(
      `redis: written on the primary but ${acknowledged} of ${wait.replicas} replica(s) confirmed it within ${wait.timeoutMs} ms (store.redisWaitReplicas)`,
    );
  }
}
