import { releaseRecord, type ReleaseDeps } from './release-record.js';
import { recordAudit, recordAuditAfter } from './audit.js';
import { StoreConflictError, type MessageStore } from '../store/message-store.js';
import { historyEntry, type MessageRecord } from '../store/record.js';
import type { RefusedCopy } from '../actions/outcome.js';
import { campaignKey } from '../actions/campaign-key.js';
import { NO_EVENTS, type GuardEvents } from '../actions/guard-events.js';
import { mayReleaseAs, notFrom, refusalFor, ReviewRefusedError, stepFor, type ReleaseForm, type Reviewer, type ReviewAction } from './lifecycle.js';

// The review actions on one record, shared by the per-message routes and the
// campaign routes so a bulk action applies exactly the same rules. Each one
// reads the record for a precise refusal (lifecycle.ts), then lets the store's
// atomic transition (or release claim) decide races: the read is advice, the
// store is the lock. A refusal is a ReviewRefusedError carrying its Refusal.
// What took effect is also appended to the audit log (audit.ts: after the
// store accepted it; a refused action leaves no entry).

export interface ReviewDeps extends ReleaseDeps {
  readonly fourEyes: boolean;
  /** Releases and discards are told to the people on duty (notify.webhooks). */
  readonly events?: GuardEvents;
}

/** What approve and discard need: the store, and who hears about a discard. */
export type DecisionDeps = Pick<ReviewDeps, 'store' | 'events'>;

export async function approveMessage(deps: DecisionDeps, reviewer: Reviewer, id: string, reason: string | null): Promise<MessageRecord> {
  return decide(deps.store, reviewer, id, 'approve', reason);
}

export async function discardMessage(deps: DecisionDeps, reviewer: Reviewer, id: string, reason: string): Promise<MessageRecord> {
  const discarded = await decide(deps.store, reviewer, id, 'discard', reason);
  (deps.events ?? NO_EVENTS).emit({
    kind: 'discarded',
    at: new Date().toISOString(),
    id,
    campaign: campaignKey(discarded),
    actor: reviewer.name,
    as: null,
    reason,
  });
  return discarded;
}

export interface Released {
  readonly record: MessageRecord;
  readonly upstreamReply: string;
  readonly refused: readonly RefusedCopy[];
}

/** Role and four-eyes rules (lifecycle.ts), then the release itself (release-record.ts). */
export async function releaseMessage(deps: ReviewDeps, reviewer: Reviewer, id: string, as: ReleaseForm, reason: string | null): Promise<Released> {
  const notPermitted = mayReleaseAs(reviewer, as);
  if (notPermitted) throw new ReviewRefusedError(notPermitted);
  const record = await existing(deps.store, id);
  const refusal = refusalFor(record, 'release', reviewer, deps.fourEyes);
  if (refusal) throw new ReviewRefusedError(refusal);

  const result = await releaseRecord(deps, id, as, reviewer.name, stepFor('release', deps.fourEyes).from, reason);
  switch (result.kind) {
    case 'released':
      await recordAuditAfter(deps.store, reviewer, 'release', id, releaseNote(result.record, as), `message ${id} was released`);
      (deps.events ?? NO_EVENTS).emit({
        kind: 'released',
        at: new Date().toISOString(),
        id,
        campaign: campaignKey(result.record),
        actor: reviewer.name,
        as,
        reason,
      });
      return { record: result.record, upstreamReply: result.upstreamReply, refused: result.refused };
    case 'not-found':
      throw notFound();
    case 'conflict':
      throw new ReviewRefusedError(
        result.current === null ? { kind: 'not-found', message: result.message } : { kind: 'wrong-status', message: result.message, status: result.current },
      );
    case 'upstream-failed':
    case 'unrecorded': {
      // Something may have gone out: the attempt is audited with its outcome.
      const note = `as ${as}: failed: ${result.message}; upstream: ${result.upstreamReply}` + (reason ? `; ${reason}` : '');
      await recordAuditAfter(deps.store, reviewer, 'release', id, note, `the release of message ${id} failed (${result.message})`);
      throw new ReviewRefusedError(result);
    }
  }
}

/** What the release's history entry says went out (release-record.ts writes it), for the audit note. */
function releaseNote(record: MessageRecord, as: ReleaseForm): string {
  for (let i = record.history.length - 1; i >= 0; i--) {
    const h = record.history[i]!;
    if (h.action === 'release') return h.note ?? `as ${as}`;
  }
  return `as ${as}`;
}

async function decide(
  store: MessageStore,
  reviewer: Reviewer,
  id: string,
  action: Exclude<ReviewAction, 'release'>,
  note: string | null,
): Promise<MessageRecord> {
  // Approve and discard read the same step with or without four-eyes.
  const fourEyes = false;
  const record = await existing(store, id);
  const refusal = refusalFor(record, action, reviewer, fourEyes);
  if (refusal) throw new ReviewRefusedError(refusal);
  const step = stepFor(action, fourEyes);
  let decided: MessageRecord;
  try {
    decided = await store.transition(id, { ...step, entry: historyEntry(reviewer.name, action, note) });
  } catch (err) {
    // Someone else changed it between our read and the transition.
    if (err instanceof StoreConflictError && err.current !== null) {
      throw new ReviewRefusedError({ kind: 'wrong-status', status: err.current, message: notFrom(err.current, action) });
    }
    throw err;
  }
  await recordAuditAfter(store, reviewer, action, id, note, `message ${id} was ${action === 'approve' ? 'approved' : 'discarded'}`);
  return decided;
}

/**
 * The stored .eml for a person: it may hold every exposed address, so each
 * download is in the history and in the audit log (durable) before a byte is
 * handed out, and nothing is handed out when either cannot be written
 * (StoreUnavailableError: the API answers 503).
 */
export async function rawForReviewer(store: MessageStore, reviewer: Reviewer, id: string): Promise<Buffer> {
  const raw = await store.raw(id);
  if (!raw) throw notFound();
  await store.appendHistory(id, historyEntry(reviewer.name, 'view-raw', null));
  await recordAudit(store, reviewer, 'view-raw', id, null);
  return raw;
}

async function existing(store: MessageStore, id: string): Promise<MessageRecord> {
  const record = await store.get(id);
  if (!record) throw notFound();
  return record;
}

function notFound(): ReviewRefusedError {
  return new ReviewRefusedError({ kind: 'not-found', message: 'no message with this id' });
}
