import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LockTimeoutError } from './file-lock.js';
import { RecordDirectories, RecordMismatchError } from './file-store-records.js';
import { indexAfter, StatusIndex } from './file-store-index.js';
import {
  StoreConflictError,
  StoreUnavailableError,
  type ListPage,
  type ExpiredClaim,
  type ListQuery,
  type MessageStore,
  type Transition,
} from './message-store.js';
import { FileLedger } from './file-ledger.js';
import { FileAuditLog } from './file-audit-log.js';
import { FileBreakers } from './file-breakers.js';
import { FileMarks } from './file-marks.js';
import { type HistoryEntry, type MessageRecord, type RecordStatus } from './record.js';
import { checkListQuery, checkStatus, emptyCounts, MAX_LIST_SCAN, recordMatcher } from './store-common.js';
import { checkDueQuery, checkLease, claimExpired } from './release-claim.js';
import { THIS_HOST } from './durable-write.js';
import { isMessageId } from '../message/message-id.js';

/**
 * The embedded store: one directory per record under `<path>/records/<id>/`
 * holding message.eml, record.json and, from a release claim on,
 * release.claim. See DESIGN.md "Store records". The audit log lives beside
 * them in `<path>/audit/` (file-audit-log.ts).
 */
export async function openFileStore(
  path: string,
  // marksClock: for tests, the clock the notice marks expire by.
  options: { readonly ledgerHours?: number; readonly marksClock?: () => number } = {},
): Promise<MessageStore> {
  const root = resolve(path);
  try {
    await mkdir(join(root, 'records'), { recursive: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
  } catch (err) {
    throw unavailable(`cannot create the store directory ${root}`, err);
  }
  let ledger: FileLedger;
  try {
    ledger = await FileLedger.open(join(root, 'delivery-ledger.jsonl'), (options.ledgerHours ?? 120) * 3_600_000);
  } catch (err) {
    throw unavailable(`cannot open the delivery ledger in ${root}`, err);
  }
  const store = new FileStore(new RecordDirectories(root), ledger, new FileAuditLog(root), new FileMarks(root, options.marksClock));
  await store.ping();
  await store.sweep();
  store.warmIndex();
  return store;
}

class FileStore implements MessageStore {
  readonly #index: StatusIndex;
  #closed = false;
  readonly breakers: FileBreakers;

  constructor(
    private readonly dirs: RecordDirectories,
    readonly ledger: FileLedger,
    readonly audit: FileAuditLog,
    readonly marks: FileMarks,
  ) {
    this.#index = new StatusIndex(dirs.records);
    this.breakers = new FileBreakers(dirs.root, () => this.#closed);
  }

  async put(record: MessageRecord, raw: readonly Buffer[]): Promise<void> {
    this.#open();
    if (!isMessageId(record.id)) throw new RangeError(`not a record id: ${JSON.stringify(record.id)}`);
    checkStatus(record.status);
    try {
      await this.dirs.create(record, raw);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        const existing = await this.dirs.read(record.id).catch(() => null);
        if (existing) throw new StoreConflictError(`record ${record.id} already exists`, existing.status);
      }
      throw unavailable(`cannot store record ${record.id}`, err);
    }
  }

  async get(id: string): Promise<MessageRecord | null> {
    this.#open();
    if (!isMessageId(id)) return null;
    return this.#guard(`cannot read record ${id}`, () => this.dirs.read(id));
  }

  async raw(id: string): Promise<Buffer | null> {
    this.#open();
    if (!isMessageId(id)) return null;
    return this.#guard(`cannot read message ${id}`, () => this.dirs.readRaw(id));
  }

  async list(query: ListQuery): Promise<ListPage> {
    this.#open();
    const { limit, cursor, status, maxScan = MAX_LIST_SCAN } = checkListQuery(query, isMessageId);
    const matches = recordMatcher(query);
    return this.#guard('cannot list records', async () => {
      const all = await this.#index.ids();
      const candidates = cursor === undefined ? all : all.slice(indexAfter(all, cursor));
      // Without a status filter every id is a candidate; with one, the index
      // finds the matching ids first. Other filters need the record itself.
      const ids = (status === undefined ? each(candidates) : matching(this.#index.entries(candidates), status))[Symbol.asyncIterator]();
      const records: MessageRecord[] = [];
      let scanned = 0;
      let last: string | null = null;
      let more = false;
      for (;;) {
        // Unfiltered, every record read is one for the page: read no more than it needs.
        const room = records.length === limit ? 0 : Math.min(READ_BATCH, maxScan - scanned, matches ? Infinity : limit - records.length);
        const batch = room > 0 ? await take(ids, room) : [];
        if (batch.length === 0) {
          // Full, or out of scan budget: is there anything after the last record looked at?
          more = room <= 0 && !(await ids.next()).done;
          break;
        }
        const read = await Promise.all(batch.map((id) => this.#readListed(id)));
        for (let i = 0; i < batch.length; i++) {
          if (records.length === limit) {
            more = true;
            break;
          }
          scanned++;
          last = batch[i]!;
          const record = read[i];
          // Re-checked against the file itself: another process may have moved it on.
          if (record && (status === undefined || record.status === status) && (matches === null || matches(record))) records.push(record);
        }
        if (more) break;
      }
      return { records, nextCursor: more ? last : null, scanned };
    });
  }

  /** A record for a listing; one unparsable record.json must not hide all the others (as in the index). */
  async #readListed(id: string): Promise<MessageRecord | null> {
    return this.dirs.read(id).catch((err: unknown) => {
      if (err instanceof SyntaxError || err instanceof RecordMismatchError) return null;
      throw err;
    });
  }

  async transition(id: string, transition: Transition): Promise<MessageRecord> {
    checkStatus(transition.to);
    return this.#update(id, ({ record, claimed }) => {
      if (claimed && record.status !== 'released') throw new StoreConflictError(`record ${id} is being released`, 'releasing');
      if (!transition.from.includes(record.status)) {
        throw new StoreConflictError(`record ${id} is ${record.status}, not ${transition.from.join('/')}`, record.status);
      }
      return { ...record, status: transition.to, history: [...record.history, transition.entry] };
    });
  }

  async appendHistory(id: string, entry: HistoryEntry): Promise<void> {
    await this.#update(id, ({ record }) => ({ ...record, history: [...record.history, entry] }));
  }

  async claimRelease(id: string, from: readonly RecordStatus[], leaseUntil: Date): Promise<MessageRecord> {
    const lease = checkLease(leaseUntil);
    return this.#update(id, async ({ record, claimed, claim }) => {
      if (record.status === 'released' || record.status === 'discarded') {
        throw new StoreConflictError(`record ${id} is already ${record.status}`, record.status);
      }
      if (claimed) throw new StoreConflictError(`record ${id} is being released`, 'releasing');
      if (!from.includes(record.status)) throw new StoreConflictError(`record ${id} is ${record.status}, not ${from.join('/')}`, record.status);
      if (!(await claim({ at: new Date().toISOString(), host: THIS_HOST, pid: process.pid, leaseUntil: lease }))) {
        throw new StoreConflictError(`record ${id} is being released`, 'releasing');
      }
      return record;
    });
  }

  async renewRelease(id: string, leaseUntil: Date): Promise<void> {
    const lease = checkLease(leaseUntil);
    await this.#update(id, async ({ record, claimed, readClaim, rewriteClaim }) => {
      const claim = claimed && record.status !== 'released' ? await readClaim() : null;
      // Only the holder renews: a claim given back and taken again belongs to someone else.
      if (!claim || claim.host !== THIS_HOST || claim.pid !== process.pid) {
        throw new StoreConflictError(`record ${id}: this process holds no release claim on it`, record.status);
      }
      await rewriteClaim({ ...claim, leaseUntil: lease });
      return record;
    });
  }

  async dueForRelease(now: Date, limit: number): Promise<MessageRecord[]> {
    this.#open();
    checkDueQuery(now, limit);
    return this.#guard('cannot list delayed records', async () => {
      // From the status index; the few delayed records are then read whole. Fine for thousands.
      const due: MessageRecord[] = [];
      for await (const entry of this.#index.entries(await this.#index.ids())) {
        if (entry.status !== 'delayed') continue;
        const record = await this.#readListed(entry.id);
        if (record?.status !== 'delayed' || record.releaseAt === undefined || !(Date.parse(record.releaseAt) <= now.getTime())) continue;
        if (await this.dirs.readClaim(entry.id)) continue;
        due.push(record);
      }
      return due.sort((a, b) => Date.parse(a.releaseAt!) - Date.parse(b.releaseAt!) || (a.id < b.id ? -1 : 1)).slice(0, limit);
    });
  }

  async expiredClaims(now: Date, limit: number): Promise<ExpiredClaim[]> {
    this.#open();
    checkDueQuery(now, limit);
    return this.#guard('cannot list release claims', async () => {
      const expired: ExpiredClaim[] = [];
      for await (const entry of this.#index.entries(await this.#index.ids())) {
        // A released record keeps its claim file for good; a discarded one never had one.
        if (entry.status === 'released' || entry.status === 'discarded') continue;
        const claim = await this.dirs.readClaim(entry.id);
        if (!claim || !claimExpired(claim, now)) continue;
        const record = await this.#readListed(entry.id);
        if (record && record.status !== 'released') expired.push({ record, claim });
      }
      const leaseOf = (c: ExpiredClaim): number => (c.claim.leaseUntil === null ? 0 : Date.parse(c.claim.leaseUntil));
      return expired.sort((a, b) => leaseOf(a) - leaseOf(b)).slice(0, limit);
    });
  }

  async retryExpiredClaim(id: string, entry: HistoryEntry, now: Date): Promise<MessageRecord> {
    if (!Number.isFinite(now.getTime())) throw new RangeError('invalid date');
    let next: MessageRecord | null = null;
    await this.#update(
      id,
      async ({ record, claimed, readClaim }) => {
        const claim = claimed && record.status !== 'released' ? await readClaim() : null;
        if (!claim) throw new StoreConflictError(`record ${id} has no release claim to give back`, record.status);
        if (!claimExpired(claim, now)) throw new StoreConflictError(`record ${id}: its release claim has not expired`, 'releasing');
        next = { ...record, history: [...record.history, entry] };
        return next;
      },
      // As abandonRelease: the history line first, so a crash in between keeps the claim.
      ({ unclaim }) => unclaim(),
    );
    return next!;
  }

  async abandonRelease(id: string, entry: HistoryEntry): Promise<void> {
    await this.#update(
      id,
      ({ record, claimed }) => {
        if (!claimed || record.status === 'released') throw new StoreConflictError(`record ${id} has no release under way`, record.status);
        return { ...record, history: [...record.history, entry] };
      },
      // The history line is written first: a crash in between leaves the claim
      // in place, which blocks a release rather than allowing a second one.
      ({ unclaim }) => unclaim(),
    );
  }

  completeRelease(id: string, entry: HistoryEntry): Promise<MessageRecord> {
    // The claim file stays: with status released it blocks any later claim,
    // and if this write fails the record still cannot be released twice.
    return this.#update(id, ({ record, claimed }) => {
      if (!claimed || record.status === 'released') throw new StoreConflictError(`record ${id} has no release under way`, record.status);
      return { ...record, status: 'released', history: [...record.history, entry] };
    });
  }

  async purge(olderThan: Date, keep: ReadonlySet<RecordStatus>): Promise<number> {
    this.#open();
    const cutoff = olderThan.getTime();
    if (!Number.isFinite(cutoff)) throw new RangeError('purge: invalid date');
    return this.#guard('cannot purge records', async () => {
      const candidates: string[] = [];
      for await (const entry of this.#index.entries(await this.#index.ids())) {
        if (!keep.has(entry.status) && entry.receivedAtMs < cutoff) candidates.push(entry.id);
      }
      let removed = 0;
      for (const id of candidates) {
        // Decided again under the lock, from the file: the index may be behind.
        const gone = await this.dirs
          .removeUnless(
            id,
            ({ record, claimed }) =>
              keep.has(record.status) ||
              !(Date.parse(record.receivedAt) < cutoff) ||
              // Claimed but not released: a release is in flight.
              (claimed && record.status !== 'released'),
          )
          .catch((err: unknown) => {
            // Gone already, or busy: the next run gets it.
            if (err instanceof StoreConflictError || err instanceof LockTimeoutError) return false;
            throw err;
          });
        if (gone) {
          this.#index.forget(id);
          removed++;
        }
      }
      await this.dirs.sweepTemp();
      return removed;
    });
  }

  async countByStatus(): Promise<Record<RecordStatus, number>> {
    this.#open();
    return this.#guard('cannot count records', async () => {
      const counts = emptyCounts();
      for await (const entry of this.#index.entries(await this.#index.ids())) counts[entry.status]++;
      return counts;
    });
  }

  async oldestReceivedAt(status: RecordStatus): Promise<Date | null> {
    this.#open();
    return this.#guard('cannot read the index', async () => {
      // ids() is newest first; the oldest of a status is the last one seen.
      let oldest: number | null = null;
      for await (const entry of this.#index.entries(await this.#index.ids())) if (entry.status === status) oldest = entry.receivedAtMs;
      return oldest === null ? null : new Date(oldest);
    });
  }

  async oldest(status: RecordStatus): Promise<MessageRecord | null> {
    this.#open();
    checkStatus(status);
    return this.#guard('cannot read the index', async () => {
      const ids = await this.#index.ids();
      // Oldest first; the index may be behind a change another process made, so the file decides.
      for (let end = ids.length; end > 0; end -= READ_BATCH) {
        const older = ids.slice(Math.max(0, end - READ_BATCH), end).reverse();
        for await (const entry of this.#index.entries(older)) {
          if (entry.status !== status) continue;
          const record = await this.#readListed(entry.id);
          if (record?.status === status) return record;
        }
      }
      return null;
    });
  }

  async ping(): Promise<void> {
    this.#open();
    await this.#guard(`store directory ${this.dirs.root} is not usable`, () => this.dirs.probe());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.audit.close();
    await this.ledger.close();
  }

  async sweep(): Promise<void> {
    await this.#guard(`cannot clean ${this.dirs.tmp}`, () => this.dirs.sweepTemp());
  }

  /**
   * Reads every record's status in the background, so the first filtered
   * listing after a restart does not parse 10,000 files while an operator
   * waits. Failures are left for the listing itself to report.
   */
  warmIndex(): void {
    void (async () => {
      for await (const _ of this.#index.entries(await this.#index.ids())) if (this.#closed) return;
    })().catch(() => undefined);
  }

  async #update(...args: Parameters<RecordDirectories['update']>): Promise<MessageRecord> {
    this.#open();
    const id = args[0];
    if (!isMessageId(id)) throw new StoreConflictError(`no record ${JSON.stringify(id)}`, null);
    return this.#guard(`cannot update record ${id}`, () => this.dirs.update(...args));
  }

  /** Conflicts and caller mistakes pass through; every other failure means the disk cannot answer. */
  async #guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreConflictError || err instanceof StoreUnavailableError || err instanceof RangeError) throw err;
      throw unavailable(what, err);
    }
  }

  #open(): void {
    if (this.#closed) throw new StoreUnavailableError('store is closed');
  }
}

/** Records a listing reads at once: enough to keep the disk busy, few enough that a full page wastes little. */
const READ_BATCH = 64;

async function* each(ids: readonly string[]): AsyncGenerator<string> {
  yield* ids;
}

async function take(ids: AsyncIterator<string>, count: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < count) {
    const step = await ids.next();
    if (step.done) break;
    out.push(step.value);
  }
  return out;
}

async function* matching(entries: AsyncIterable<{ id: string; status: RecordStatus }>, status: RecordStatus): AsyncGenerator<string> {
  for await (const entry of entries) if (entry.status === status) yield entry.id;
}

function unavailable(what: string, err: unknown): StoreUnavailableError {
  const e = err as NodeJS.ErrnoException;
  const detail = err instanceof LockTimeoutError ? e.message : (e.code ?? e.message ?? String(err));
  return new StoreUnavailableError(`${what}: ${detail}`, { cause: err });
}
