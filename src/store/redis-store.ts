import { hostname } from 'node:os';
import { checkDueQuery, checkLease, parseClaim } from './release-claim.js';
import { createRedisClient, durabilityWarnings, type RedisClient } from './redis-client.js';
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
import { isMessageId, MESSAGE_ID_PATTERN } from '../message/message-id.js';
import { RECORD_STATUSES, type HistoryEntry, type MessageRecord, type RecordStatus } from './record.js';
import { SCRIPTS, type ScriptName } from './redis-store-scripts.js';
import { RedisAuditLog } from './redis-audit-log.js';
import { RedisBreakers } from './redis-breakers.js';
import { RedisMarks } from './redis-marks.js';
import { checkListQuery, checkStatus, emptyCounts, MAX_LIST_SCAN, recordMatcher } from './store-common.js';

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
  /** Called each time the connection is back after it was lost: ioredis is ready for commands again. */
  readonly onReconnect?: (() => void) | undefined;
}

/**
 * The methods `defineCommand` adds to the client, which ioredis cannot type:
 * one per script, taking its KEYS then its ARGV (the key count is the
 * script's fixed numberOfKeys, so ioredis supplies it).
 */
type ScriptCommands = {
  readonly [N in ScriptName as `mailGuard_${N}`]: (...keysThenArgs: (string | Buffer)[]) => Promise<unknown>;
};
type ScriptedClient = RedisClient & ScriptCommands;

/** Defines every script on the client (before it connects; works alike for a node, Sentinel and a Cluster). */
function defineScripts(client: RedisClient): ScriptedClient {
  for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(`mailGuard_${name}`, script);
  return client as ScriptedClient;
}

/** The key prefix when none is given (openStore gives none). */
export const DEFAULT_KEY_PREFIX = 'mail-guard';

const CURSOR = new RegExp(`^(\\d{1,16})_(${MESSAGE_ID_PATTERN})$`);
const PURGE_BATCH = 500;
/** Records a filtered listing fetches per round trip. */
const SCAN_BATCH = 200;
const OLDEST_BATCH = 10;
const HOST = hostname();

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
  // Without a listener ioredis prints every reconnect failure to the console;
  // the failures reach callers as StoreUnavailableError instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    throw new StoreUnavailableError(`redis: cannot connect: ${(err as Error).message}`, { cause: err });
  }
  if (options.onWarning) for (const warning of await durabilityWarnings(client)) options.onWarning(warning);
  // Attached after the first connection is up: every later 'ready' is a reconnect.
  if (options.onReconnect) client.on('ready', options.onReconnect);
  const store = new RedisStore(client, `{${prefix}}`, (options.ledgerHours ?? 120) * 3_600_000);
  await store.indexLeaselessClaims();
  return store;
}

class RedisStore implements MessageStore {
  #closed = false;
  readonly ledger: DeliveryLedger;
  readonly audit: AuditLog;
  readonly breakers: BreakerStore;
  readonly marks: NoticeMarks;

  constructor(
    private readonly client: ScriptedClient,
    private readonly tag: string,
    ledgerTtlMs: number,
  ) {
    this.ledger = new RedisLedger(client, `${tag}:ledger:`, ledgerTtlMs, (fn) => this.#guard(fn));
    this.breakers = new RedisBreakers(client, tag, (fn) => this.#guard(fn));
    this.marks = new RedisMarks(client, `${tag}:mark:`, (fn) => this.#guard(fn));
    const auditKey = auditLogKey(tag);
    this.audit = new RedisAuditLog(
      client,
      auditKey,
      (last, entry) => this.#run('auditAppend', [auditKey], [last, entry]),
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
    const reply = await this.#guard(() =>
      this.#run(
        'put',
        [this.#key('rec', id), this.#key('raw', id), this.#key('hist', id), this.#key('idx', 'all'), this.#key('idx', status), this.#dueKey()],
        [id, JSON.stringify(meta), status, String(score), Buffer.concat(raw), dueScore(record), ...history.map((e) => JSON.stringify(e))],
      ),
    );
    outcome(id, reply);
  }

  async get(id: string): Promise<MessageRecord | null> {
    if (!isMessageId(id)) return null;
    const [record] = await this.#guard(() => this.#fetch([id]));
    return record ?? null;
  }

  async raw(id: string): Promise<Buffer | null> {
    if (!isMessageId(id)) return null;
    return this.#guard(() => this.client.getBuffer(this.#key('raw', id)));
  }

  async list(query: ListQuery): Promise<ListPage> {
    const { limit, cursor, status, maxScan = MAX_LIST_SCAN } = checkListQuery(query, (c) => CURSOR.test(c));
    const matches = recordMatcher(query);
    let [, afterScore = '', afterId = ''] = cursor === undefined ? [] : CURSOR.exec(cursor)!;
    return this.#guard(async () => {
      const records: MessageRecord[] = [];
      let scanned = 0;
      let more = false;
      for (;;) {
        // Unfiltered, every record fetched is one for the page: fetch no more than it needs.
        const room = records.length === limit ? 0 : Math.min(SCAN_BATCH, maxScan - scanned, matches ? Infinity : limit - records.length);
        // One more than there is room for: whether anything follows the last record looked at.
        const flat = (await this.#run('page', [this.#key('idx', status ?? 'all')], [afterScore, afterId, String(room + 1)])) as string[];
        const page: { id: string; score: string }[] = [];
        for (let i = 0; i + 1 < flat.length; i += 2) page.push({ id: flat[i]!, score: flat[i + 1]! });
        const end = page.length <= room;
        if (!end) {
          more = room === 0;
          page.length = room;
        }
        if (page.length === 0) break;
        const fetched = await this.#fetch(page.map((p) => p.id));
        for (let i = 0; i < page.length; i++) {
          if (records.length === limit) {
            more = true;
            break;
          }
          scanned++;
          ({ score: afterScore, id: afterId } = page[i]!);
          const record = fetched[i];
          // A record can move on (or be purged) between the index read and the fetch.
          if (record && (status === undefined || record.status === status) && (matches === null || matches(record))) records.push(record);
        }
        if (more || end) break;
      }
      return { records, nextCursor: more ? `${afterScore}_${afterId}` : null, scanned };
    });
  }

  async transition(id: string, transition: Transition): Promise<MessageRecord> {
    this.#checkId(id);
    checkStatus(transition.to);
    const reply = await this.#guard(() =>
      this.#run(
        'transition',
        [...this.#recordKeys(id, true), this.#dueKey()],
        [id, transition.to, transition.from.join(','), JSON.stringify(transition.entry)],
      ),
    );
    return decodeSnapshot(outcome(id, reply));
  }

  async appendHistory(id: string, entry: HistoryEntry): Promise<void> {
    this.#checkId(id);
    outcome(id, await this.#guard(() => this.#run('appendHistory', this.#recordKeys(id, false), [JSON.stringify(entry)])));
  }

  async claimRelease(id: string, from: readonly RecordStatus[], leaseUntil: Date): Promise<MessageRecord> {
    this.#checkId(id);
    const lease = checkLease(leaseUntil);
    const claim = JSON.stringify({ at: new Date().toISOString(), host: HOST, pid: process.pid, leaseUntil: lease });
    const reply = await this.#guard(() => this.#run('claim', this.#claimKeys(id), [from.join(','), claim, id, String(leaseUntil.getTime())]));
    return decodeSnapshot(outcome(id, reply));
  }

  async renewRelease(id: string, leaseUntil: Date): Promise<void> {
    this.#checkId(id);
    const lease = checkLease(leaseUntil);
    await this.#guard(async () => {
      const current = parseClaim((await this.client.hget(this.#key('rec', id), 'claim')) ?? 'null');
      // The script checks the holder again, atomically; this read only builds the new JSON.
      const claim = JSON.stringify({ ...(current ?? { at: new Date().toISOString(), host: HOST, pid: process.pid }), leaseUntil: lease });
      outcome(id, await this.#run('renew', [this.#key('rec', id), this.#claimsKey()], [id, String(leaseUntil.getTime()), claim, `${HOST}:${process.pid}`]));
    });
  }

  async dueForRelease(now: Date, limit: number): Promise<MessageRecord[]> {
    checkDueQuery(now, limit);
    return this.#guard(async () => {
      const ids = await this.client.zrangebyscore(this.#dueKey(), '-inf', String(now.getTime()), 'LIMIT', 0, limit);
      // The set holds delayed records nobody claimed; one may move on between the read and the fetch.
      return (await this.#fetch(ids)).filter((r): r is MessageRecord => r?.status === 'delayed');
    });
  }

  async expiredClaims(now: Date, limit: number): Promise<ExpiredClaim[]> {
    checkDueQuery(now, limit);
    return this.#guard(async () => {
      const ids = await this.client.zrangebyscore(this.#claimsKey(), '-inf', `(${now.getTime()}`, 'LIMIT', 0, limit);
      if (ids.length === 0) return [];
      const multi = this.client.multi();
      for (const id of ids) multi.hget(this.#key('rec', id), 'claim');
      const claims = ((await multi.exec()) ?? []).map(([err, value]) => {
        if (err) throw err;
        return typeof value === 'string' ? parseClaim(value) : null;
      });
      const records = await this.#fetch(ids);
      const expired: ExpiredClaim[] = [];
      ids.forEach((_, i) => {
        const record = records[i];
        const claim = claims[i];
        if (record && claim && record.status !== 'released') expired.push({ record, claim });
      });
      return expired;
    });
  }

  async retryExpiredClaim(id: string, entry: HistoryEntry, now: Date): Promise<MessageRecord> {
    this.#checkId(id);
    if (!Number.isFinite(now.getTime())) throw new RangeError('invalid date');
    const reply = await this.#guard(() => this.#run('retryExpired', this.#claimKeys(id), [JSON.stringify(entry), id, String(now.getTime())]));
    return decodeSnapshot(outcome(id, reply));
  }

  async abandonRelease(id: string, entry: HistoryEntry): Promise<void> {
    this.#checkId(id);
    outcome(id, await this.#guard(() => this.#run('abandon', this.#claimKeys(id), [JSON.stringify(entry), id])));
  }

  async completeRelease(id: string, entry: HistoryEntry): Promise<MessageRecord> {
    this.#checkId(id);
    const reply = await this.#guard(() => this.#run('complete', [...this.#recordKeys(id, true), this.#claimsKey()], [id, JSON.stringify(entry)]));
    return decodeSnapshot(outcome(id, reply));
  }

  async purge(olderThan: Date, keep: ReadonlySet<RecordStatus>): Promise<number> {
    const cutoff = olderThan.getTime();
    if (!Number.isFinite(cutoff)) throw new RangeError('purge: invalid date');
    return this.#guard(async () => {
      let removed = 0;
      for (const status of RECORD_STATUSES.filter((s) => !keep.has(s))) {
        // Records the script keeps (a claim in flight) stay in the index: step past them.
        for (let kept = 0; ;) {
          const ids = await this.client.zrangebyscore(this.#key('idx', status), '-inf', `(${cutoff}`, 'LIMIT', kept, PURGE_BATCH);
          const results = await Promise.all(
            ids.map((id) =>
              this.#run(
                'purgeOne',
                [
                  this.#key('rec', id),
                  this.#key('raw', id),
                  this.#key('hist', id),
                  this.#key('idx', 'all'),
                  ...this.#statusKeys(),
                  this.#dueKey(),
                  this.#claimsKey(),
                ],
                [id, String(cutoff), [...keep].join(',')],
              ),
            ),
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
      for (const status of RECORD_STATUSES) multi.zcard(this.#key('idx', status));
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
      const [, score] = await this.client.zrange(this.#key('idx', status), '0', '0', 'WITHSCORES');
      return score === undefined ? null : new Date(Number(score));
    });
  }

  async oldest(status: RecordStatus): Promise<MessageRecord | null> {
    checkStatus(status);
    return this.#guard(async () => {
      // Oldest first; a record can move on between the index read and the fetch: take the next one then.
      for (let offset = 0; ; offset += OLDEST_BATCH) {
        const ids = await this.client.zrange(this.#key('idx', status), String(offset), String(offset + OLDEST_BATCH - 1));
        const found = (await this.#fetch(ids)).find((r) => r?.status === status);
        if (found) return found;
        if (ids.length < OLDEST_BATCH) return null;
      }
    });
  }

  async ping(): Promise<void> {
    await this.#guard(() => this.client.ping());
  }

  /**
   * Claims written before leases existed are in no claims index: put them
   * there with score 0 (expired), so expiredClaims shows them. Reads every
   * record that could hold a claim in flight, once per open.
   */
  async indexLeaselessClaims(): Promise<void> {
    await this.#guard(async () => {
      for (const status of RECORD_STATUSES.filter((s) => s !== 'released' && s !== 'discarded')) {
        for (let offset = 0; ; offset += PURGE_BATCH) {
          const ids = await this.client.zrange(this.#key('idx', status), String(offset), String(offset + PURGE_BATCH - 1));
          if (ids.length === 0) break;
          const multi = this.client.multi();
          for (const id of ids) multi.hmget(this.#key('rec', id), 'claim', 'lease');
          const replies = (await multi.exec()) ?? [];
          const leaseless = ids.filter((_, i) => {
            const [claim, lease] = (replies[i]?.[1] ?? []) as (string | null)[];
            return typeof claim === 'string' && lease === null;
          });
          if (leaseless.length) await this.client.zadd(this.#claimsKey(), 'NX', ...leaseless.flatMap((id) => ['0', id]));
          if (ids.length < PURGE_BATCH) break;
        }
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.client.quit().catch(() => this.client.disconnect());
  }

  /** Record, raw and history of several ids in one MULTI: a consistent snapshot of each. */
  async #fetch(ids: readonly string[]): Promise<(MessageRecord | null)[]> {
    if (ids.length === 0) return [];
    const multi = this.client.multi();
    for (const id of ids) multi.hmget(this.#key('rec', id), 'meta', 'status').lrange(this.#key('hist', id), 0, -1);
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

  /** Runs a script; ioredis falls back from EVALSHA to EVAL when the server does not know it (restart, SCRIPT FLUSH, new node). */
  async #run(name: ScriptName, keys: readonly string[], args: readonly (string | Buffer)[]): Promise<unknown> {
    // KEYS and ARGV travel as one list: a wrong key count would shift ARGV into KEYS.
    const expected = SCRIPTS[name].numberOfKeys;
    if (keys.length !== expected) throw new RangeError(`script ${name}: ${keys.length} keys, expected ${expected}`);
    return this.client[`mailGuard_${name}`](...keys, ...args);
  }

  #recordKeys(id: string, withIndexes: boolean): string[] {
    const keys = [this.#key('rec', id), this.#key('hist', id)];
    return withIndexes ? [...keys, ...this.#statusKeys()] : keys;
  }

  /** rec, hist, due, claims: what the claim scripts keep in step. */
  #claimKeys(id: string): string[] {
    return [this.#key('rec', id), this.#key('hist', id), this.#dueKey(), this.#claimsKey()];
  }

  #dueKey(): string {
    return `${this.tag}:due`;
  }

  #claimsKey(): string {
    return `${this.tag}:claims`;
  }

  #statusKeys(): string[] {
    return RECORD_STATUSES.map((s) => this.#key('idx', s));
  }

  #key(kind: 'rec' | 'raw' | 'hist' | 'idx', name: string): string {
    return `${this.tag}:${kind}:${name}`;
  }

  #checkId(id: string): void {
    if (!isMessageId(id)) throw new StoreConflictError(`no record ${JSON.stringify(id)}`, null);
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

function outcome(id: string, reply: unknown): unknown[] {
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

function decodeSnapshot(parts: readonly unknown[]): MessageRecord {
  return decode(parts[1] as string, parts[2] as string, parts.slice(3) as string[]);
}

function decode(meta: string, status: string, history: readonly string[]): MessageRecord {
  return {
    ...(JSON.parse(meta) as Omit<MessageRecord, 'status' | 'history'>),
    status: status as RecordStatus,
    history: history.map((h) => JSON.parse(h) as HistoryEntry),
  };
}

/**
 * The shared delivery ledger: one Redis set of accepted recipients per message
 * digest, expiring after store.ledgerHours, so a 451 on one instance and the
 * retry on another send each copy once. Its keys carry the store's hash tag,
 * so they live in the same Cluster slot as the records.
 */
class RedisLedger implements DeliveryLedger {
  // Another instance may have written an entry: always look.
  readonly mayHoldEntries = true;

  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    private readonly ttlMs: number,
    private readonly guard: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {}

  async acceptedRecipients(digest: string): Promise<ReadonlySet<string>> {
    return new Set(await this.guard(() => this.client.smembers(this.prefix + digest)));
  }

  async recordAccepted(digest: string, recipients: readonly string[]): Promise<void> {
    if (recipients.length === 0) return;
    const key = this.prefix + digest;
    await this.guard(async () => {
      const replies = await this.client
        .multi()
        .sadd(key, ...recipients.map((r) => r.toLowerCase()))
        .pexpire(key, this.ttlMs)
        .exec();
      const failed = replies?.find(([err]) => err);
      if (!replies || failed) throw failed?.[0] ?? new Error('ledger write was not executed');
    });
  }

  async forget(digest: string): Promise<void> {
    await this.guard(() => this.client.del(this.prefix + digest));
  }
}
