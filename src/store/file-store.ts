import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LockTimeoutError } from './file-lock.js';
import { RecordDirectories } from './file-store-records.js';
import { StatusIndex } from './file-store-index.js';
import {
  StoreConflictError,
  StoreUnavailableError,
  type ListPage,
  type ExpiredClaim,
  type ListQuery,
  type MessageStore,
  type Transition,
  type DeliveryLedger,
} from './message-store.js';
import { FileLedger } from './file-ledger.js';
import { FileAuditLog } from './file-audit-log.js';
import { FileBreakers } from './file-breakers.js';
import { listRecords, READ_BATCH, readListed } from './file-listing.js';
import { FileMarks } from './file-marks.js';
import { FileReleaseClaims } from './file-release-claims.js';
import { dueMarker, RecordMarkers } from './file-record-markers.js';
import { guarded, unavailable } from './file-store-guard.js';
import { type HistoryEntry, type MessageRecord, type RecordStatus } from './record.js';
import { checkStatus, emptyCounts } from './store-common.js';
import { isMessageId } from '../message/message-id.js';

/**
 * The embedded store: one directory per record under `<path>/records/<id>/`
 * holding message.eml, record.json and, from a release claim on,
 * release.claim. See DESIGN.md "Store records". The audit log lives beside
 * them in `<path>/audit/` (file-audit-log.ts).
 */
export async function openFileStore(
  path: string,
  // marksClock: for tests, the clock the notice marks expire by. ledger: one kept by
  // another process (the workers' primary, src/workers), since one process owns the file's ledger.
  options: { readonly ledgerHours?: number; readonly marksClock?: () => number; readonly ledger?: ClosableLedger } = {},
): Promise<MessageStore> {
  const root = resolve(path);
  try {
    await mkdir(join(root, 'records'), { recursive: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
  } catch (err) {
    throw unavailable(`cannot create the store directory ${root}`, err);
  }
  let ledger: ClosableLedger;
  try {
    ledger = options.ledger ?? (await FileLedger.open(join(root, 'delivery-ledger.jsonl'), (options.ledgerHours ?? 120) * 3_600_000));
  } catch (err) {
    throw unavailable(`cannot open the delivery ledger in ${root}`, err);
  }
  const store = new FileStore(new RecordDirectories(root), ledger, new FileAuditLog(root), new FileMarks(root, options.marksClock));
  await store.ping();
  await store.sweep();
  await store.markExisting();
  store.warmIndex();
  return store;
}

type ClosableLedger = DeliveryLedger & { close(): Promise<void> };

class FileStore implements MessageStore {
  readonly #index: StatusIndex;
  #closed = false;
  readonly breakers: FileBreakers;
  readonly #claims: FileReleaseClaims;
  readonly #markers: { readonly due: RecordMarkers; readonly claims: RecordMarkers };

  constructor(
    private readonly dirs: RecordDirectories,
    readonly ledger: ClosableLedger,
    readonly audit: FileAuditLog,
    readonly marks: FileMarks,
  ) {
    this.#index = new StatusIndex(dirs.records);
    this.breakers = new FileBreakers(dirs.root, () => this.#closed);
    this.#markers = { due: new RecordMarkers(join(dirs.root, 'markers', 'due')), claims: new RecordMarkers(join(dirs.root, 'markers', 'claims')) };
    this.#claims = new FileReleaseClaims(
      dirs,
      this.#index,
      () => this.#open(),
      (...args) => this.#update(...args),
      this.#markers,
    );
  }

  async put(record: MessageRecord, raw: readonly Buffer[]): Promise<void> {
    this.#open();
    if (!isMessageId(record.id)) throw new RangeError(`not a record id: ${JSON.stringify(record.id)}`);
    checkStatus(record.status);
    try {
      // Before the record: a delayed record the scheduler cannot find would never leave.
      const due = record.status === 'delayed' && record.releaseAt !== undefined ? dueMarker(record.releaseAt, record.id) : null;
      if (due) await this.#markers.due.add(due);
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
    return guarded(`cannot read record ${id}`, () => this.dirs.read(id));
  }

  async raw(id: string): Promise<Buffer | null> {
    this.#open();
    if (!isMessageId(id)) return null;
    return guarded(`cannot read message ${id}`, () => this.dirs.readRaw(id));
  }

  async list(query: ListQuery): Promise<ListPage> {
    this.#open();
    return listRecords(this.dirs, this.#index, query);
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
    this.#open();
    const cutoff = olderThan.getTime();
    if (!Number.isFinite(cutoff)) throw new RangeError('purge: invalid date');
    return guarded('cannot purge records', async () => {
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
    return guarded('cannot count records', async () => {
      const counts = emptyCounts();
      for await (const entry of this.#index.entries(await this.#index.ids())) counts[entry.status]++;
      return counts;
    });
  }

  async oldestReceivedAt(status: RecordStatus): Promise<Date | null> {
    this.#open();
    return guarded('cannot read the index', async () => {
      // ids() is newest first; the oldest of a status is the last one seen.
      let oldest: number | null = null;
      for await (const entry of this.#index.entries(await this.#index.ids())) if (entry.status === status) oldest = entry.receivedAtMs;
      return oldest === null ? null : new Date(oldest);
    });
  }

  async oldest(status: RecordStatus): Promise<MessageRecord | null> {
    this.#open();
    checkStatus(status);
    return guarded('cannot read the index', async () => {
      const ids = await this.#index.ids();
      // Oldest first; the index may be behind a change another process made, so the file decides.
      for (let end = ids.length; end > 0; end -= READ_BATCH) {
        const older = ids.slice(Math.max(0, end - READ_BATCH), end).reverse();
        for await (const entry of this.#index.entries(older)) {
          if (entry.status !== status) continue;
          const record = await readListed(this.dirs, entry.id);
          if (record?.status === status) return record;
        }
      }
      return null;
    });
  }

  async ping(): Promise<void> {
    this.#open();
    await guarded(`store directory ${this.dirs.root} is not usable`, () => this.dirs.probe());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.audit.close();
    await this.ledger.close();
    await this.breakers.close();
  }

  /** First open of a store without markers/ (file-record-markers.ts): mark what is already there, once. */
  async markExisting(): Promise<void> {
    const done = join(this.dirs.root, 'markers', 'complete');
    if (await stat(done).catch(() => null)) return;
    await guarded('cannot mark delayed records and claims', async () => {
      await this.#claims.markExisting();
      await mkdir(done, { recursive: true });
    });
  }

  async sweep(): Promise<void> {
    await guarded(`cannot clean ${this.dirs.tmp}`, () => this.dirs.sweepTemp());
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
    return guarded(`cannot update record ${id}`, () => this.dirs.update(...args));
  }

  #open(): void {
    if (this.#closed) throw new StoreUnavailableError('store is closed');
  }
}
