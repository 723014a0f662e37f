import type { RecordDirectories } from './file-store-records.js';
import type { StatusIndex } from './file-store-index.js';
import { readListed } from './file-listing.js';
import { guarded } from './file-store-guard.js';
import { StoreConflictError, type ExpiredClaim } from './message-store.js';
import type { HistoryEntry, MessageRecord, RecordStatus } from './record.js';
import { checkDueQuery, checkLease, claimExpired } from './release-claim.js';
import { THIS_HOST } from './durable-write.js';

/**
 * The file store's release claims (MessageStore claimRelease … completeRelease):
 * a claim is `release.claim` in the record's directory, created with O_EXCL
 * under the record's lock, so of every process sharing the directory exactly
 * one releases a record. `open` and `update` are the store's (closed check,
 * id check, lock, outage mapping).
 */
export class FileReleaseClaims {
  constructor(
    private readonly dirs: RecordDirectories,
    private readonly index: StatusIndex,
    private readonly open: () => void,
    private readonly update: (...args: Parameters<RecordDirectories['update']>) => Promise<MessageRecord>,
  ) {}

  async claimRelease(id: string, from: readonly RecordStatus[], leaseUntil: Date): Promise<MessageRecord> {
    const lease = checkLease(leaseUntil);
    return this.update(id, async ({ record, claimed, claim }) => {
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
    await this.update(id, async ({ record, claimed, readClaim, rewriteClaim }) => {
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
    this.open();
    checkDueQuery(now, limit);
    return guarded('cannot list delayed records', async () => {
      // From the status index; the few delayed records are then read whole. Fine for thousands.
      const due: MessageRecord[] = [];
      for await (const entry of this.index.entries(await this.index.ids())) {
        if (entry.status !== 'delayed') continue;
        const record = await readListed(this.dirs, entry.id);
        if (record?.status !== 'delayed' || record.releaseAt === undefined || !(Date.parse(record.releaseAt) <= now.getTime())) continue;
        if (await this.dirs.readClaim(entry.id)) continue;
        due.push(record);
      }
      return due.sort((a, b) => Date.parse(a.releaseAt!) - Date.parse(b.releaseAt!) || (a.id < b.id ? -1 : 1)).slice(0, limit);
    });
  }

  async expiredClaims(now: Date, limit: number): Promise<ExpiredClaim[]> {
    this.open();
    checkDueQuery(now, limit);
    return guarded('cannot list release claims', async () => {
      const expired: ExpiredClaim[] = [];
      for await (const entry of this.index.entries(await this.index.ids())) {
        // A released record keeps its claim file for good; a discarded one never had one.
        if (entry.status === 'released' || entry.status === 'discarded') continue;
        const claim = await this.dirs.readClaim(entry.id);
        if (!claim || !claimExpired(claim, now)) continue;
        const record = await readListed(this.dirs, entry.id);
        if (record && record.status !== 'released') expired.push({ record, claim });
      }
      const leaseOf = (c: ExpiredClaim): number => (c.claim.leaseUntil === null ? 0 : Date.parse(c.claim.leaseUntil));
      return expired.sort((a, b) => leaseOf(a) - leaseOf(b)).slice(0, limit);
    });
  }

  async retryExpiredClaim(id: string, entry: HistoryEntry, now: Date): Promise<MessageRecord> {
    if (!Number.isFinite(now.getTime())) throw new RangeError('invalid date');
    let next: MessageRecord | null = null;
    await this.update(
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
    await this.update(
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
    return this.update(id, ({ record, claimed }) => {
      if (!claimed || record.status === 'released') throw new StoreConflictError(`record ${id} has no release under way`, record.status);
      return { ...record, status: 'released', history: [...record.history, entry] };
    });
  }
}
