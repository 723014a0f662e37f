import type { RecordDirectories } from './file-store-records.js';
import type { StatusIndex } from './file-store-index.js';
import { readListed } from './file-listing.js';
import { guarded } from './file-store-guard.js';
import { StoreConflictError, type ExpiredClaim } from './message-store.js';
import type { HistoryEntry, MessageRecord, RecordStatus } from './record.js';
import { checkDueQuery, checkLease, claimExpired } from './release-claim.js';
import { THIS_HOST } from './durable-write.js';
import { dueMarker as dueMarkerName, parseDueMarker, type RecordMarkers } from './file-record-markers.js';
import { isMessageId } from '../message/message-id.js';

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
    /** `due/`: one marker per delayed record (put writes it); `claims/`: one per claim (written before the claim). */
    private readonly markers: { readonly due: RecordMarkers; readonly claims: RecordMarkers },
  ) {}

  async claimRelease(id: string, from: readonly RecordStatus[], leaseUntil: Date): Promise<MessageRecord> {
    const lease = checkLease(leaseUntil);
    return this.update(id, async ({ record, claimed, claim }) => {
      if (record.status === 'released' || record.status === 'discarded') {
        throw new StoreConflictError(`record ${id} is already ${record.status}`, record.status);
      }
      if (claimed) throw new StoreConflictError(`record ${id} is being released`, 'releasing');
      if (!from.includes(record.status)) throw new StoreConflictError(`record ${id} is ${record.status}, not ${from.join('/')}`, record.status);
      // Before the claim: a claim whose holder dies must be findable by expiredClaims.
      await this.markers.claims.add(id);
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
      // The due markers sort by release time: read only records whose time has come.
      const due: MessageRecord[] = [];
      const nowMs = now.getTime();
      for (const name of await this.markers.due.names()) {
        const marker = parseDueMarker(name);
        if (marker === null || !isMessageId(marker.id)) {
          await this.markers.due.removeIfStale(name, nowMs);
          continue;
        }
        if (marker.atMs > nowMs || due.length >= limit) break;
        const record = await readListed(this.dirs, marker.id);
        if (record === null) {
          await this.markers.due.removeIfStale(name, nowMs);
          continue;
        }
        // Left the delay (released, discarded, failed, held): the marker has done its job.
        if (record.status !== 'delayed') {
          await this.markers.due.remove(name);
          continue;
        }
        if (record.releaseAt === undefined || !(Date.parse(record.releaseAt) <= nowMs)) continue;
        // Claimed: a release is under way, or its holder died (expiredClaims shows it); never taken from here.
        if (await this.dirs.readClaim(marker.id)) continue;
        due.push(record);
      }
      return due;
    });
  }

  async expiredClaims(now: Date, limit: number): Promise<ExpiredClaim[]> {
    this.open();
    checkDueQuery(now, limit);
    return guarded('cannot list release claims', async () => {
      const expired: ExpiredClaim[] = [];
      const nowMs = now.getTime();
      for (const id of await this.markers.claims.names()) {
        if (!isMessageId(id)) {
          await this.markers.claims.removeIfStale(id, nowMs);
          continue;
        }
        const claim = await this.dirs.readClaim(id);
        const record = claim ? await readListed(this.dirs, id) : null;
        if (!claim || !record) {
          await this.markers.claims.removeIfStale(id, nowMs);
          continue;
        }
        // A released record keeps its claim file for good (it blocks a second release); it needs no marker.
        if (record.status === 'released') {
          await this.markers.claims.remove(id);
          continue;
        }
        if (claimExpired(claim, now)) expired.push({ record, claim });
      }
      const leaseOf = (c: ExpiredClaim): number => (c.claim.leaseUntil === null ? 0 : Date.parse(c.claim.leaseUntil));
      return expired.sort((a, b) => leaseOf(a) - leaseOf(b)).slice(0, limit);
    });
  }

  /**
   * For a store written before the markers existed (or by hand): one walk over
   * every record, marking each delayed record and each claim of a record not
   * yet released. Run once, when `markers/` does not exist yet.
   */
  async markExisting(): Promise<void> {
    for await (const entry of this.index.entries(await this.index.ids())) {
      if (entry.status === 'released' || entry.status === 'discarded') continue;
      if (entry.status === 'delayed') {
        const record = await readListed(this.dirs, entry.id);
        const name = record?.releaseAt === undefined ? null : dueMarkerName(record.releaseAt, entry.id);
        if (name) await this.markers.due.add(name);
      }
      if (await this.dirs.readClaim(entry.id)) await this.markers.claims.add(entry.id);
    }
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
