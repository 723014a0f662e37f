import { hostname } from 'node:os';
import { checkDueQuery, checkLease, parseClaim } from './release-claim.js';
import type { ExpiredClaim } from './message-store.js';
import { RECORD_STATUSES, type HistoryEntry, type MessageRecord, type RecordStatus } from './record.js';
import { checkId, decodeSnapshot, outcome, type RedisRecords } from './redis-records.js';

const HOST = hostname();
/** Records the legacy-claim scan reads per round trip. */
const LEGACY_SCAN_BATCH = 500;

/**
 * The Redis store's release claims (MessageStore claimRelease … completeRelease):
 * each claim is one Lua script (redis-store-scripts.ts), so of several
 * mail-guard processes on one Redis exactly one releases a record. The `due`
 * set holds delayed records nobody claimed, by releaseAt; the `claims` set
 * holds claimed ones, by lease end.
 */
export class RedisReleaseClaims {
  constructor(
    private readonly records: RedisRecords,
    private readonly guard: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {}

  async claimRelease(id: string, from: readonly RecordStatus[], leaseUntil: Date): Promise<MessageRecord> {
    checkId(id);
    const lease = checkLease(leaseUntil);
    const claim = JSON.stringify({ at: new Date().toISOString(), host: HOST, pid: process.pid, leaseUntil: lease });
    const keys = this.records.claimKeys(id);
    // A claim no replica confirmed is given back: kept, it would hold the record until its lease ends and then wait for an operator, though nothing left.
    const givenBack = JSON.stringify({ at: new Date().toISOString(), actor: 'mail-guard', action: 'claim-given-back', note: 'no replica confirmed the claim' });
    const undo = () => this.records.run('abandon', keys, [givenBack, id], false);
    const reply = await this.guard(() => this.records.runOrUndo('claim', keys, [from.join(','), claim, id, String(leaseUntil.getTime())], undo));
    return decodeSnapshot(outcome(id, reply));
  }

  async renewRelease(id: string, leaseUntil: Date): Promise<void> {
    checkId(id);
    const lease = checkLease(leaseUntil);
    const { client } = this.records;
    await this.guard(async () => {
      const current = parseClaim((await client.hget(this.records.key('rec', id), 'claim')) ?? 'null');
      // The script checks the holder again, atomically; this read only builds the new JSON.
      const claim = JSON.stringify({ ...(current ?? { at: new Date().toISOString(), host: HOST, pid: process.pid }), leaseUntil: lease });
      const keys = [this.records.key('rec', id), this.records.claimsKey()];
      outcome(id, await this.records.run('renew', keys, [id, String(leaseUntil.getTime()), claim, `${HOST}:${process.pid}`]));
    });
  }

  async dueForRelease(now: Date, limit: number): Promise<MessageRecord[]> {
    checkDueQuery(now, limit);
    return this.guard(async () => {
      const ids = await this.records.client.zrangebyscore(this.records.dueKey(), '-inf', String(now.getTime()), 'LIMIT', 0, limit);
      // The set holds delayed records nobody claimed; one may move on between the read and the fetch.
      return (await this.records.fetch(ids)).filter((r): r is MessageRecord => r?.status === 'delayed');
    });
  }

  async expiredClaims(now: Date, limit: number): Promise<ExpiredClaim[]> {
    checkDueQuery(now, limit);
    const { client } = this.records;
    return this.guard(async () => {
      const ids = await client.zrangebyscore(this.records.claimsKey(), '-inf', `(${now.getTime()}`, 'LIMIT', 0, limit);
      if (ids.length === 0) return [];
      const multi = client.multi();
      for (const id of ids) multi.hget(this.records.key('rec', id), 'claim');
      const claims = ((await multi.exec()) ?? []).map(([err, value]) => {
        if (err) throw err;
        return typeof value === 'string' ? parseClaim(value) : null;
      });
      const records = await this.records.fetch(ids);
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
    checkId(id);
    if (!Number.isFinite(now.getTime())) throw new RangeError('invalid date');
    const reply = await this.guard(() => this.records.run('retryExpired', this.records.claimKeys(id), [JSON.stringify(entry), id, String(now.getTime())]));
    return decodeSnapshot(outcome(id, reply));
  }

  async abandonRelease(id: string, entry: HistoryEntry): Promise<void> {
    checkId(id);
    outcome(id, await this.guard(() => this.records.run('abandon', this.records.claimKeys(id), [JSON.stringify(entry), id])));
  }

  async completeRelease(id: string, entry: HistoryEntry): Promise<MessageRecord> {
    checkId(id);
    const keys = [...this.records.recordKeys(id, true), this.records.claimsKey()];
    const reply = await this.guard(() => this.records.run('complete', keys, [id, JSON.stringify(entry)]));
    return decodeSnapshot(outcome(id, reply));
  }

  /**
   * Claims written before leases existed are in no claims index: put them
   * there with score 0 (expired), so expiredClaims shows them. Reads every
   * record that could hold a claim in flight, once per open.
   */
  async indexLeaselessClaims(): Promise<void> {
    const { client } = this.records;
    await this.guard(async () => {
      for (const status of RECORD_STATUSES.filter((s) => s !== 'released' && s !== 'discarded')) {
        for (let offset = 0; ; offset += LEGACY_SCAN_BATCH) {
          const ids = await client.zrange(this.records.key('idx', status), String(offset), String(offset + LEGACY_SCAN_BATCH - 1));
          if (ids.length === 0) break;
          const multi = client.multi();
          for (const id of ids) multi.hmget(this.records.key('rec', id), 'claim', 'lease');
          const replies = (await multi.exec()) ?? [];
          const leaseless = ids.filter((_, i) => {
            const [claim, lease] = (replies[i]?.[1] ?? []) as (string | null)[];
            return typeof claim === 'string' && lease === null;
          });
          if (leaseless.length) await client.zadd(this.records.claimsKey(), 'NX', ...leaseless.flatMap((id) => ['0', id]));
          if (ids.length < LEGACY_SCAN_BATCH) break;
        }
      }
    });
  }
}
