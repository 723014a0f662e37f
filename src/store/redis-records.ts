import type { RedisClient } from './redis-client.js';
import { StoreConflictError, StoreUnavailableError } from './message-store.js';
import { isMessageId } from '../message/message-id.js';
import { RECORD_STATUSES, type HistoryEntry, type MessageRecord, type RecordStatus } from './record.js';
import { awaitReplicas, NO_REPLICA_WAIT, ReplicaShortfallError, type ReplicaWait } from './redis-replicas.js';
import { SCRIPTS, type ScriptName } from './redis-store-scripts.js';

/**
 * The methods `defineCommand` adds to the client, which ioredis cannot type:
 * one per script, taking its KEYS then its ARGV (the key count is the
 * script's fixed numberOfKeys, so ioredis supplies it).
 */
type ScriptCommands = {
  readonly [N in ScriptName as `mailGuard_${N}`]: (...keysThenArgs: (string | Buffer)[]) => Promise<unknown>;
};
export type ScriptedClient = RedisClient & ScriptCommands;

/** Defines every script on the client (before it connects; works alike for a node, Sentinel and a Cluster). */
export function defineScripts(client: RedisClient): ScriptedClient {
  for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(`mailGuard_${name}`, script);
  return client as ScriptedClient;
}

/**
 * What the Redis store's record operations share (redis-store.ts,
 * redis-release-claims.ts, redis-listing.ts): the key layout under the
 * store's `{prefix}` tag (see redis-store-scripts.ts), running a script, and
 * reading records whole.
 */
export class RedisRecords {
  /**
   * `confirming`: the connection for durable scripts and their WAIT (a second
   * one when replicaWait asks for replicas). WAIT blocks its connection until
   * the replicas answer; on the shared one every read behind it would wait too.
   */
  constructor(
    readonly client: ScriptedClient,
    private readonly tag: string,
    readonly replicaWait: ReplicaWait = NO_REPLICA_WAIT,
    readonly confirming: ScriptedClient = client,
  ) {}

  /** Record, raw and history of several ids in one MULTI: a consistent snapshot of each. */
  async fetch(ids: readonly string[]): Promise<(MessageRecord | null)[]> {
    if (ids.length === 0) return [];
    const multi = this.client.multi();
    for (const id of ids) multi.hmget(this.key('rec', id), 'meta', 'status').lrange(this.key('hist', id), 0, -1);
    const replies = (await multi.exec()) ?? [];
    return ids.map((_, i) => {
      const [metaErr, fields] = replies[2 * i] ?? [new Error('no reply'), null];
      const [histErr, history] = replies[2 * i + 1] ?? [new Error('no reply'), null];
      if (metaErr) throw metaErr;
      if (histErr) throw histErr;
      const [meta, status] = fields as (string | null)[];
      if (typeof meta !== 'string' || typeof status !== 'string') return null;
      return decode(meta, status, history as string[]);
    });
  }

  /**
   * Runs a script; ioredis falls back from EVALSHA to EVAL when the server does not know it (restart, SCRIPT FLUSH, new node).
   * `confirm`: WAIT for the replicas after a durable script (store.redisWaitReplicas); false when the caller confirms itself.
   */
  async run(name: ScriptName, keys: readonly string[], args: readonly (string | Buffer)[], confirm = DURABLE.has(name)): Promise<unknown> {
    // KEYS and ARGV travel as one list: a wrong key count would shift ARGV into KEYS.
    const expected = SCRIPTS[name].numberOfKeys;
    if (keys.length !== expected) throw new RangeError(`script ${name}: ${keys.length} keys, expected ${expected}`);
    const client = DURABLE.has(name) ? this.confirming : this.client;
    const reply = await client[`mailGuard_${name}`](...keys, ...args);
    if (confirm) await awaitReplicas(this.confirming, this.replicaWait);
    return reply;
  }

  /**
   * A durable script whose success must reach the replicas, or be taken back:
   * when it answered 'ok' and the replicas fall short, `undo` runs (unconfirmed,
   * best effort: the primary may be gone) and the shortfall is thrown.
   */
  async runOrUndo(name: ScriptName, keys: readonly string[], args: readonly (string | Buffer)[], undo: () => Promise<unknown>): Promise<unknown> {
    const reply = await this.run(name, keys, args, false);
    if ((reply as unknown[])[0] !== 'ok') return reply;
    try {
      await awaitReplicas(this.confirming, this.replicaWait);
    } catch (err) {
      if (err instanceof ReplicaShortfallError) await undo().catch(() => undefined);
      throw err;
    }
    return reply;
  }

  /** What purgeOne touches for `id`. */
  purgeKeys(id: string): string[] {
    return [this.key('rec', id), this.key('raw', id), this.key('hist', id), this.key('idx', 'all'), ...this.statusKeys(), this.dueKey(), this.claimsKey()];
  }

  recordKeys(id: string, withIndexes: boolean): string[] {
    const keys = [this.key('rec', id), this.key('hist', id)];
    return withIndexes ? [...keys, ...this.statusKeys()] : keys;
  }

  /** rec, hist, due, claims: what the claim scripts keep in step. */
  claimKeys(id: string): string[] {
    return [this.key('rec', id), this.key('hist', id), this.dueKey(), this.claimsKey()];
  }

  dueKey(): string {
    return `${this.tag}:due`;
  }

  claimsKey(): string {
    return `${this.tag}:claims`;
  }

  statusKeys(): string[] {
    return RECORD_STATUSES.map((s) => this.key('idx', s));
  }

  key(kind: 'rec' | 'raw' | 'hist' | 'idx', name: string): string {
    return `${this.tag}:${kind}:${name}`;
  }
}

/**
 * The scripts whose write a caller relies on once it returns: a record put
 * (held, delayed, captured), its moves and history, claims and their end, the
 * audit log. Not the lease renewal, the purge or the listing.
 */
const DURABLE: ReadonlySet<ScriptName> = new Set(['put', 'transition', 'appendHistory', 'claim', 'abandon', 'retryExpired', 'complete', 'auditAppend']);

export function checkId(id: string): void {
  if (!isMessageId(id)) throw new StoreConflictError(`no record ${JSON.stringify(id)}`, null);
}

export function outcome(id: string, reply: unknown): unknown[] {
  const parts = reply as unknown[];
  switch (parts[0]) {
    case 'ok':
      return parts;
    case 'missing':
      throw new StoreConflictError(`no record ${id}`, null);
    case 'conflict': {
      const current = (parts[1] ?? null) as RecordStatus | 'releasing' | null;
      throw new StoreConflictError(current === 'releasing' ? `record ${id} is being released` : `record ${id} is ${current}`, current);
    }
    default:
      throw new StoreUnavailableError(`redis: unexpected script reply for ${id}`);
  }
}

export function decodeSnapshot(parts: readonly unknown[]): MessageRecord {
  return decode(parts[1] as string, parts[2] as string, parts.slice(3) as string[]);
}

function decode(meta: string, status: string, history: readonly string[]): MessageRecord {
  return {
    ...(JSON.parse(meta) as Omit<MessageRecord, 'status' | 'history'>),
    status: status as RecordStatus,
    history: history.map((h) => JSON.parse(h) as HistoryEntry),
  };
}
