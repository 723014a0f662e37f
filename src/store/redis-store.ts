import { connectOrFail, createRedisClient, durabilityWarnings, secondConnection } from './redis-client.js';
import {
  StoreConflictError,
  StoreUnavailableError,
  type AuditLog,
  type BreakerStore,
  type DeliveryLedger,
  type ExpiredClaim,
  type ListPage,
  type ListQuery,
  type MessageStore,
  type NoticeMarks,
  type Transition,
} from './message-store.js';
import { isMessageId } from '../message/message-id.js';
import { RECORD_STATUSES, type HistoryEntry, type MessageRecord, type RecordStatus } from './record.js';
import { RedisAuditLog } from './redis-audit-log.js';
import { RedisBreakers } from './redis-breakers.js';
import { RedisLedger } from './redis-ledger.js';
import { listRecords } from './redis-listing.js';
import { RedisMarks } from './redis-marks.js';
import { checkId, decodeSnapshot, defineScripts, outcome, RedisRecords, type ScriptedClient } from './redis-records.js';
import { RedisReleaseClaims } from './redis-release-claims.js';
import type { ReplicaWait } from './redis-replicas.js';
import { checkStatus, emptyCounts } from './store-common.js';

export interface RedisStoreOptions {
  readonly url: string;
  /**
   * Passed to ioredis. `sentinels` + `name` connect through Sentinel;
   * `cluster: [{host, port}, …]` connects to a Cluster (other keys then apply
   * to each node, `clusterOptions` to the Cluster itself).
   */
  readonly redisOptions?: Record<string, unknown> | undefined;
  /** Default "mail-guard"; every key starts with `{<keyPrefix>}:`. */
  readonly keyPrefix?: string | undefined;
  /** Default 1000: a Redis that does not answer within this is down, and the caller answers 451. */
  readonly commandTimeoutMs?: number | undefined;
  /** Told once at open when Redis is not set up to keep held mail (AOF off, an evicting maxmemory-policy). */
  readonly onWarning?: ((message: string) => void) | undefined;
  /** store.ledgerHours: how long a delivery-ledger entry lives (default 120). */
  readonly ledgerHours?: number | undefined;
  /** store.redisWaitReplicas / redisWaitTimeoutMs: replicas that must confirm a durable write (default none). */
  readonly replicaWait?: ReplicaWait | undefined;
  /** Called each time the connection is back after it was lost: ioredis is ready for commands again. */
  readonly onReconnect?: (() => void) | undefined;
}

/** The key prefix when none is given (openStore gives none). */
export const DEFAULT_KEY_PREFIX = 'mail-guard';

const PURGE_BATCH = 500;
const OLDEST_BATCH = 10;

/**
 * The shared store: several mail-guard processes may use one Redis, and a
 * record is still released at most once (the claim is one Lua script).
 * Key layout: see redis-store-scripts.ts.
 */
export async function openRedisStore(options: RedisStoreOptions): Promise<MessageStore> {
  const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  if (!/^[A-Za-z0-9:_.-]+$/.test(prefix)) throw new RangeError('keyPrefix: letters, digits and : _ . - only');
  const timeout = options.commandTimeoutMs ?? 1000;
  const client = defineScripts(createRedisClient(options.url, options.redisOptions ?? {}, timeout));
  let closed = false;
  await connectOrFail(client, () => closed);
  // Durable writes and their WAIT get a connection of their own (RedisRecords.confirming).
  const confirming = (options.replicaWait?.replicas ?? 0) > 0 ? defineScripts(await secondConnection(client, () => closed)) : client;
  if (options.onWarning) for (const warning of await durabilityWarnings(client, options.replicaWait?.replicas)) options.onWarning(warning);
  // Attached after the first connection is up: every later 'ready' is a reconnect.
  if (options.onReconnect) client.on('ready', options.onReconnect);
  const store = new RedisStore({ client, confirming }, `{${prefix}}`, (options.ledgerHours ?? 120) * 3_600_000, options.replicaWait, () => (closed = true));
  await store.indexLeaselessClaims();
  return store;
}

class RedisStore implements MessageStore {
  #closed = false;
  readonly ledger: DeliveryLedger;
  readonly audit: AuditLog;
  readonly breakers: BreakerStore;
  readonly marks: NoticeMarks;
  readonly #records: RedisRecords;
  readonly #claims: RedisReleaseClaims;

  private readonly client: ScriptedClient;
  readonly #confirming: ScriptedClient;

  constructor(
    clients: { readonly client: ScriptedClient; readonly confirming: ScriptedClient },
    tag: string,
    ledgerTtlMs: number,
    replicaWait: ReplicaWait | undefined,
    private readonly onClose: () => void,
  ) {
    const { client, confirming } = clients;
    this.client = client;
    this.#confirming = confirming;
    this.#records = new RedisRecords(client, tag, replicaWait, confirming);
    this.#claims = new RedisReleaseClaims(this.#records, (fn) => this.#guard(fn));
    this.ledger = new RedisLedger(client, `${tag}:ledger:`, ledgerTtlMs, (fn) => this.#guard(fn), replicaWait, confirming);
    this.breakers = new RedisBreakers(client, tag, (fn) => this.#guard(fn));
    this.marks = new RedisMarks(client, `${tag}:mark:`, (fn) => this.#guard(fn));
    const auditKey = auditLogKey(tag);
    this.audit = new RedisAuditLog(
      client,
      auditKey,
      (last, entry) => this.#records.run('auditAppend', [auditKey], [last, entry]),
      (fn) => this.#guard(fn),
    );
  }

  async put(record: MessageRecord, raw: readonly Buffer[]): Promise<void> {
    if (!isMessageId(record.id)) throw new RangeError(`not a record id: ${JSON.stringify(record.id)}`);
    checkStatus(record.status);
    const score = Date.parse(record.receivedAt);
    if (!Number.isFinite(score)) throw new RangeError(`record ${record.id}: receivedAt is not a date`);
    const { status, history, ...meta } = record;
    const id = record.id;
    // A put no replica confirmed is taken back (the mailer gets 451 and sends it again).
    const undo = () => this.#records.run('purgeOne', this.#records.purgeKeys(id), [id, String(score + 1), ''], false);
    const reply = await this.#guard(() =>
      this.#records.runOrUndo(
        'put',
        [
          this.#records.key('rec', id),
          this.#records.key('raw', id),
          this.#records.key('hist', id),
          this.#records.key('idx', 'all'),
          this.#records.key('idx', status),
          this.#records.dueKey(),
        ],
        [id, JSON.stringify(meta), status, String(score), Buffer.concat(raw), dueScore(record), ...history.map((e) => JSON.stringify(e))],
        undo,
      ),
    );
    outcome(id, reply);
  }

  async get(id: string): Promise<MessageRecord | null> {
    if (!isMessageId(id)) return null;
    const [record] = await this.#guard(() => this.#records.fetch([id]));
    return record ?? null;
  }

  async raw(id: string): Promise<Buffer | null> {
    if (!isMessageId(id)) return null;
    return this.#guard(() => this.client.getBuffer(this.#records.key('raw', id)));
  }

  list(query: ListQuery): Promise<ListPage> {
    return listRecords(this.#records, query, (fn) => this.#guard(fn));
  }

  async transition(id: string, transition: Transition): Promise<MessageRecord> {
    checkId(id);
    checkStatus(transition.to);
    const reply = await this.#guard(() =>
      this.#records.run(
        'transition',
        [...this.#records.recordKeys(id, true), this.#records.dueKey()],
        [id, transition.to, transition.from.join(','), JSON.stringify(transition.entry)],
      ),
    );
    return decodeSnapshot(outcome(id, reply));
  }

  async appendHistory(id: string, entry: HistoryEntry): Promise<void> {
    checkId(id);
    outcome(id, await this.#guard(() => this.#records.run('appendHistory', this.#records.recordKeys(id, false), [JSON.stringify(entry)])));
  }

  claimRelease(id: string, from: readonly RecordStatus[], leaseUntil: Date): Promise<MessageRecord> {
    return this.#claims.claimRelease(id, from, leaseUntil);
  }

  renewRelease(id: string, leaseUntil: Date): Promise<void> {
    return this.#claims.renewRelease(id, leaseUntil);
  }

  dueForRelease(now: Date, limit: number): Promise<MessageRecord[]> {
    return this.#claims.dueForRelease(now, limit);
  }

  expiredClaims(now: Date, limit: number): Promise<ExpiredClaim[]> {
    return this.#claims.expiredClaims(now, limit);
  }

  retryExpiredClaim(id: string, entry: HistoryEntry, now: Date): Promise<MessageRecord> {
    return this.#claims.retryExpiredClaim(id, entry, now);
  }

  abandonRelease(id: string, entry: HistoryEntry): Promise<void> {
    return this.#claims.abandonRelease(id, entry);
  }

  completeRelease(id: string, entry: HistoryEntry): Promise<MessageRecord> {
    return this.#claims.completeRelease(id, entry);
  }

  async purge(olderThan: Date, keep: ReadonlySet<RecordStatus>): Promise<number> {
    const cutoff = olderThan.getTime();
    if (!Number.isFinite(cutoff)) throw new RangeError('purge: invalid date');
    return this.#guard(async () => {
      let removed = 0;
      for (const status of RECORD_STATUSES.filter((s) => !keep.has(s))) {
        // Records the script keeps (a claim in flight) stay in the index: step past them.
        for (let kept = 0; ;) {
          const ids = await this.client.zrangebyscore(this.#records.key('idx', status), '-inf', `(${cutoff}`, 'LIMIT', kept, PURGE_BATCH);
          const results = await Promise.all(
            ids.map((id) => this.#records.run('purgeOne', this.#records.purgeKeys(id), [id, String(cutoff), [...keep].join(',')])),
          );
          const done = results.filter((r) => Number(r) === 1).length;
          removed += done;
          kept += ids.length - done;
          if (ids.length < PURGE_BATCH) break;
        }
      }
      return removed;
    });
  }

  async countByStatus(): Promise<Record<RecordStatus, number>> {
    return this.#guard(async () => {
      const multi = this.client.multi();
      for (const status of RECORD_STATUSES) multi.zcard(this.#records.key('idx', status));
      const replies = (await multi.exec()) ?? [];
      const counts = emptyCounts();
      RECORD_STATUSES.forEach((status, i) => {
        const [err, value] = replies[i] ?? [new Error('no reply'), null];
        if (err) throw err;
        counts[status] = Number(value);
      });
      return counts;
    });
  }

  async oldestReceivedAt(status: RecordStatus): Promise<Date | null> {
    return this.#guard(async () => {
      const [, score] = await this.client.zrange(this.#records.key('idx', status), '0', '0', 'WITHSCORES');
      return score === undefined ? null : new Date(Number(score));
    });
  }

  async oldest(status: RecordStatus): Promise<MessageRecord | null> {
    checkStatus(status);
    return this.#guard(async () => {
      // Oldest first; a record can move on between the index read and the fetch: take the next one then.
      for (let offset = 0; ; offset += OLDEST_BATCH) {
        const ids = await this.client.zrange(this.#records.key('idx', status), String(offset), String(offset + OLDEST_BATCH - 1));
        const found = (await this.#records.fetch(ids)).find((r) => r?.status === status);
        if (found) return found;
        if (ids.length < OLDEST_BATCH) return null;
      }
    });
  }

  async ping(): Promise<void> {
    await this.#guard(() => this.client.ping());
  }

  /** On open: see RedisReleaseClaims.indexLeaselessClaims. */
  indexLeaselessClaims(): Promise<void> {
    return this.#claims.indexLeaselessClaims();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose();
    for (const c of new Set([this.client, this.#confirming])) await c.quit().catch(() => c.disconnect());
  }

  /** Conflicts pass through; everything else (refused, timed out, OOM, closed) is an outage. */
  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError('store is closed');
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreConflictError || err instanceof StoreUnavailableError || err instanceof RangeError) throw err;
      throw new StoreUnavailableError(`redis: ${(err as Error).message ?? String(err)}`, { cause: err });
    }
  }
}

/** The audit log's list; `tag` is the store's `{prefix}`. */
export function auditLogKey(tag: string): string {
  return `${tag}:audit:log`;
}

/** The due set's score: releaseAt in ms, '' when the record has none. */
function dueScore(record: MessageRecord): string {
  if (record.releaseAt === undefined) return '';
  const at = Date.parse(record.releaseAt);
  if (!Number.isFinite(at)) throw new RangeError(`record ${record.id}: releaseAt is not a date`);
  return String(at);
}
