import type { MailGuardConfig } from '../config/schema.js';
import type { MessageRecord, RecordStatus } from '../store/record.js';

// The record's lifecycle in one table: which status each review action starts
// from, where it leads, and who may take it. The stores only carry out the
// transitions named here (atomically, with the `from` set given to them); the
// admin API maps a Refusal to an HTTP status, the CLI to an exit code.
//
//   held ──approve──▶ approved ──release──▶ released
//     │  ╲              │
//     │   ╲release (no four-eyes)
//     ▼    ╲            ▼
//   discarded ◀──discard── (held, approved, captured, failed)
//   failed: a copy the upstream refused after the mailer got 250: approve, release or discard it
//   captured: rehearsal mode: view or discard only
//   delayed: waits for its releaseAt (policy.delaySeconds), then the delay scheduler
//     (delay-scheduler.ts, actor "mail-guard") releases it as its verdict says;
//     a person may only discard it. Approving or releasing it early is refused on
//     purpose: the window exists so someone can stop a mistake, not to hurry mail
//     out, and "release now" would be a second way out to keep at-most-once.

export type ReviewerRole = MailGuardConfig['admin']['tokens'][number]['role'];

/** The person behind a token: history entries and four-eyes compare by this name. */
export interface Reviewer {
  readonly name: string;
  readonly role: ReviewerRole;
}

export const REVIEW_ACTIONS = ['approve', 'discard', 'release'] as const;
export type ReviewAction = (typeof REVIEW_ACTIONS)[number];

export const RELEASE_FORMS = ['original', 'bcc', 'split'] as const;
/** original: as received (exposes the addresses on purpose); bcc: `To: undisclosed-recipients:;`; split: one copy per recipient. */
export type ReleaseForm = (typeof RELEASE_FORMS)[number];

export interface LifecycleStep {
  readonly from: readonly RecordStatus[];
  readonly to: RecordStatus;
}

const APPROVE: LifecycleStep = { from: ['held', 'failed'], to: 'approved' };
const DISCARD: LifecycleStep = { from: ['held', 'approved', 'captured', 'failed', 'delayed'], to: 'discarded' };
/** Four-eyes: only from `approved`, and only by someone other than the approver. */
const RELEASE_FOUR_EYES: LifecycleStep = { from: ['approved'], to: 'released' };
/** Without four-eyes a reviewer may release straight from review. */
const RELEASE: LifecycleStep = { from: ['held', 'approved', 'failed'], to: 'released' };

export function stepFor(action: ReviewAction, fourEyes: boolean): LifecycleStep {
  switch (action) {
    case 'approve':
      return APPROVE;
    case 'discard':
      return DISCARD;
    case 'release':
      return fourEyes ? RELEASE_FOUR_EYES : RELEASE;
  }
}

/**
 * Statuses that still wait for a person; retention never removes these. A
 * `failed` copy was accepted with 250 and then refused by the upstream: until
 * someone approves and resends it or discards it, it is the only copy there is.
 */
export const UNDECIDED: ReadonlySet<RecordStatus> = new Set(['held', 'approved', 'failed', 'delayed']);

/**
 * What a campaign groups: records still waiting, plus captured ones (a
 * rehearsal's campaigns); approved stay in so a four-eyes release can find
 * them; delayed ones so a campaign can be stopped inside its delay window.
 */
export const CAMPAIGN_STATUSES: readonly RecordStatus[] = ['held', 'approved', 'captured', 'delayed'];

/** Why a review action was not carried out. Nothing was sent unless the kind says so. */
export type Refusal =
  | { readonly kind: 'not-found'; readonly message: string }
  /** The record's status does not allow the action ('releasing': a release is in flight). */
  | { readonly kind: 'wrong-status'; readonly message: string; readonly status: RecordStatus | 'releasing' }
  /** Four-eyes: the releaser approved it, or the form needs the approver role. */
  | { readonly kind: 'not-permitted'; readonly message: string }
  /** Nothing, or only part, went out; the claim was given back unless `releasable` is false. */
  | {
      readonly kind: 'upstream-failed';
      readonly message: string;
      readonly upstreamReply: string;
      readonly possiblyDelivered: boolean;
      readonly releasable: boolean;
    }
  /** The upstream accepted it but the store could not record that: the record stays locked. */
  | { readonly kind: 'unrecorded'; readonly message: string; readonly upstreamReply: string };

/** A review action refused by the lifecycle; `refusal` says why, as data. */
export class ReviewRefusedError extends Error {
  override readonly name = 'ReviewRefusedError';
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

/** Releasing `as: original` shows every recipient's address to all of them: only an approver may choose that. */
export function mayReleaseAs(reviewer: Reviewer, as: ReleaseForm): Refusal | null {
  if (as !== 'original' || reviewer.role === 'approver') return null;
  return {
    kind: 'not-permitted',
    message: 'releasing as "original" shows every recipient the others\' addresses; it needs a token with the approver role (or release as "bcc" or "split")',
  };
}

/**
 * The four-eyes rules and the table, checked against the record as read. The
 * read is advice for a precise refusal; the store's atomic transition (from the
 * step's `from` set) decides races.
 */
export function refusalFor(record: MessageRecord, action: ReviewAction, reviewer: Reviewer, fourEyes: boolean): Refusal | null {
  const step = stepFor(action, fourEyes);
  if (action === 'release' && fourEyes) {
    if (record.status === 'held' || record.status === 'failed') {
      return { kind: 'wrong-status', status: record.status, message: 'the message needs an approval by another person first (policy.fourEyes)' };
    }
    if (record.status === 'approved' && approvedBy(record) === reviewer.name) {
      return { kind: 'not-permitted', message: 'you approved this message yourself; four-eyes needs another person to release it' };
    }
  }
  if (step.from.includes(record.status)) return null;
  if (action === 'approve' && record.status === 'approved') {
    const approver = approvedBy(record);
    if (approver) return { kind: 'wrong-status', status: record.status, message: `already approved by ${approver}` };
  }
  return { kind: 'wrong-status', status: record.status, message: notFrom(record.status, action) };
}

/**
 * The person whose approval the record's current `approved` status rests on.
 * Only an `approve` moves a record to `approved` and nothing moves it back to
 * `held`, so the approver read before a claim is still the approver when the
 * claim (from `approved` only) succeeds.
 */
export function approvedBy(record: MessageRecord): string | null {
  for (let i = record.history.length - 1; i >= 0; i--) {
    const h = record.history[i]!;
    if (h.action === 'approve') return h.actor;
  }
  return null;
}

/** The refusal for a status that does not allow the action. */
export function notFrom(status: RecordStatus | 'releasing', action: string): string {
  switch (status) {
    case 'releasing':
      return 'a release of this message is in progress';
    case 'released':
      return `the message was already released; nothing to ${action}`;
    case 'discarded':
      return `the message was discarded; nothing to ${action}`;
    case 'captured':
      return `the message was captured in rehearsal mode; it can be viewed or discarded, not ${action}d`;
    case 'delayed':
      return `the message is in its delay window and leaves on its own at its release time; it can be discarded, not ${action === 'approve' ? 'approved' : `${action}d`}`;
    default:
      return `the message is ${status}; it cannot be ${action === 'approve' ? 'approved' : `${action}d`} from that status`;
  }
}
