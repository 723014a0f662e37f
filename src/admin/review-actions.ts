import { releaseRecord, type ReleaseDeps, type ReleaseForm } from '../release/release-record.js';
import { StoreConflictError, type MessageStore } from '../store/message-store.js';
import type { HistoryEntry, MessageRecord, RecordStatus } from '../store/record.js';
import { mayReleaseAsOriginal, type AdminActor } from './auth.js';
import { HttpError } from './http-answers.js';

// The review actions on one record, shared by the per-message routes and the
// campaign routes so a bulk action applies exactly the same rules. Each one
// reads the record for a precise refusal, then lets the store's atomic
// transition (or release claim) decide races: the read is advice, the store is
// the lock.

export interface ReviewDeps extends ReleaseDeps {
  readonly fourEyes: boolean;
}

const APPROVABLE: readonly RecordStatus[] = ['held', 'failed'];
const DISCARDABLE: readonly RecordStatus[] = ['held', 'approved', 'captured', 'failed'];
/** Without four-eyes a reviewer may release straight from review. */
const RELEASABLE_WITHOUT_FOUR_EYES: readonly RecordStatus[] = ['held', 'approved', 'failed'];

export async function approveMessage(store: MessageStore, actor: AdminActor, id: string, reason: string | null): Promise<MessageRecord> {
  const record = await existing(store, id);
  if (!APPROVABLE.includes(record.status)) {
    const approver = record.status === 'approved' ? approvedBy(record) : null;
    throw new HttpError(409, approver ? `already approved by ${approver}` : refusal(record.status, 'approve'), { status: record.status });
  }
  return transitionOr409(store, id, { from: APPROVABLE, to: 'approved', entry: entry(actor, 'approve', reason) });
}

export async function discardMessage(store: MessageStore, actor: AdminActor, id: string, reason: string): Promise<MessageRecord> {
  const record = await existing(store, id);
  if (!DISCARDABLE.includes(record.status)) throw new HttpError(409, refusal(record.status, 'discard'), { status: record.status });
  return transitionOr409(store, id, { from: DISCARDABLE, to: 'discarded', entry: entry(actor, 'discard', reason) });
}

export interface Released {
  readonly record: MessageRecord;
  readonly upstreamReply: string;
  readonly refused: readonly { recipient: string; code: number; response: string }[];
}

/**
 * Role and four-eyes rules, then the release itself. Four-eyes: the record must
 * be `approved`, by someone other than the releaser. Only an `approve` moves a
 * record to `approved` and nothing moves it back to `held`, so the approver read
 * here is still the approver when the claim (from `approved` only) succeeds.
 */
export async function releaseMessage(
  deps: ReviewDeps,
  actor: AdminActor,
  id: string,
  as: ReleaseForm,
  reason: string | null,
): Promise<Released> {
  if (as === 'original' && !mayReleaseAsOriginal(actor)) throw originalNeedsApprover();
  const record = await existing(deps.store, id);
  let from: readonly RecordStatus[];
  if (deps.fourEyes) {
    if (record.status === 'held' || record.status === 'failed') {
      throw new HttpError(409, 'the message needs an approval by another person first (policy.fourEyes)', { status: record.status });
    }
    if (record.status !== 'approved') throw new HttpError(409, refusal(record.status, 'release'), { status: record.status });
    if (approvedBy(record) === actor.name) {
      throw new HttpError(403, 'you approved this message yourself; four-eyes needs another person to release it');
    }
    from = ['approved'];
  } else {
    if (!RELEASABLE_WITHOUT_FOUR_EYES.includes(record.status)) throw new HttpError(409, refusal(record.status, 'release'), { status: record.status });
    from = RELEASABLE_WITHOUT_FOUR_EYES;
  }

  const result = await releaseRecord(deps, id, as, actor.name, from, reason);
  switch (result.kind) {
    case 'released':
      return { record: result.record, upstreamReply: result.upstreamReply, refused: result.refused };
    case 'not-found':
      throw new HttpError(404, 'no message with this id');
    case 'conflict':
      throw new HttpError(409, result.message, { status: result.current });
    case 'upstream-failed':
      throw new HttpError(502, result.message, {
        upstreamReply: result.upstreamReply,
        possiblyDelivered: result.possiblyDelivered,
        releasable: result.releasable,
      });
    case 'unrecorded':
      throw new HttpError(503, result.message, { upstreamReply: result.upstreamReply });
  }
}

export function originalNeedsApprover(): HttpError {
  return new HttpError(403, 'releasing as "original" shows every recipient the others\' addresses; it needs a token with the approver role (or release as "bcc" or "split")');
}

async function existing(store: MessageStore, id: string): Promise<MessageRecord> {
  const record = await store.get(id);
  if (!record) throw new HttpError(404, 'no message with this id');
  return record;
}

async function transitionOr409(store: MessageStore, id: string, t: Parameters<MessageStore['transition']>[1]): Promise<MessageRecord> {
  try {
    return await store.transition(id, t);
  } catch (err) {
    // Someone else changed it between our read and the transition.
    if (err instanceof StoreConflictError && err.current !== null) {
      throw new HttpError(409, err.current === 'releasing' ? 'a release of this message is in progress' : refusal(err.current, t.entry.action), {
        status: err.current,
      });
    }
    throw err;
  }
}

/** The person whose approval the record's current `approved` status rests on. */
export function approvedBy(record: MessageRecord): string | null {
  for (let i = record.history.length - 1; i >= 0; i--) {
    const h = record.history[i]!;
    if (h.action === 'approve') return h.actor;
  }
  return null;
}

function refusal(status: RecordStatus, action: string): string {
  switch (status) {
    case 'released':
      return `the message was already released; nothing to ${action}`;
    case 'discarded':
      return `the message was discarded; nothing to ${action}`;
    case 'captured':
      return `the message was captured in rehearsal mode; it can be viewed or discarded, not ${action}d`;
    default:
      return `the message is ${status}; it cannot be ${action === 'approve' ? 'approved' : `${action}d`} from that status`;
  }
}

function entry(actor: AdminActor, action: string, note: string | null): HistoryEntry {
  return { at: new Date().toISOString(), actor: actor.name, action, note };
}
