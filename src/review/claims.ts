import { StoreConflictError, type MessageStore } from '../store/message-store.js';
import { historyEntry, type MessageRecord, type RecordStatus } from '../store/record.js';
import { recordAuditAfter } from './audit.js';
import { ReviewRefusedError, type Reviewer } from './lifecycle.js';

// Stuck releases. A release claim whose lease expired belongs to a release that
// stopped half-way (its process died, or lost the store): the message may or
// may not have reached the upstream. mail-guard never decides that by itself;
// an operator looks (the upstream's log, the record's history), then gives the
// claim back, after which the delay scheduler (delayed) or a reviewer (held,
// approved) can send it. Giving it back may mean a second copy if it did leave,
// so it takes the approver role and is audited.

export interface StuckClaim {
  readonly id: string;
  readonly status: RecordStatus;
  readonly holder: { readonly host: string; readonly pid: number };
  /** When the claim was taken. */
  readonly since: string;
  /** When its lease ran out; null: taken by a version before leases. */
  readonly leaseUntil: string | null;
  readonly releaseAt: string | null;
}

export async function listExpiredClaims(store: MessageStore, now: Date = new Date()): Promise<StuckClaim[]> {
  const claims = await store.expiredClaims(now, 1000);
  return claims.map(({ record, claim }) => ({
    id: record.id,
    status: record.status,
    holder: { host: claim.host, pid: claim.pid },
    since: claim.at,
    leaseUntil: claim.leaseUntil,
    releaseAt: record.releaseAt ?? null,
  }));
}

export async function retryClaim(store: MessageStore, reviewer: Reviewer, id: string, reason: string, now: Date = new Date()): Promise<MessageRecord> {
  if (reviewer.role !== 'approver') {
    throw new ReviewRefusedError({
      kind: 'not-permitted',
      message: 'giving back a release claim may send the message a second time if it did leave; it needs a token with the approver role',
    });
  }
  let record: MessageRecord;
  try {
    record = await store.retryExpiredClaim(id, historyEntry(reviewer.name, 'retry-claim', reason), now);
  } catch (err) {
    if (!(err instanceof StoreConflictError)) throw err;
    if (err.current === null) throw new ReviewRefusedError({ kind: 'not-found', message: 'no message with this id' });
    const message =
      err.current === 'releasing'
        ? 'its release claim has not expired: a release may still be running; wait for its lease to end'
        : err.current === 'released'
          ? 'the message was already released; nothing to give back'
          : 'the message has no release claim to give back';
    throw new ReviewRefusedError({ kind: 'wrong-status', status: err.current, message });
  }
  await recordAuditAfter(store, reviewer, 'retry-claim', id, reason, `the release claim of message ${id} was given back`);
  return record;
}
