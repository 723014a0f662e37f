import type { UpstreamError } from '../upstream/upstream-error.js';
import { replyForRefusedCopy, replyForUpstreamAccept, replyForUpstreamError } from '../upstream/reply-for-upstream-error.js';
import { replies, type SmtpReply } from '../reply/replies.js';

export interface RefusedCopy {
  readonly recipient: string;
  readonly code: number;
  readonly response: string;
}

/** What happened to a message, before it becomes a reply. */
export type Outcome =
  | { readonly kind: 'relayed'; readonly response: string; readonly accepted: readonly string[]; readonly refused: readonly RefusedCopy[] }
  | {
      readonly kind: 'split-delivered';
      readonly copies: number;
      readonly earlier: number;
      readonly accepted: readonly string[];
      /** The upstream's reply to each accepted copy (queue ids), for the log. */
      readonly acceptedReplies: readonly { readonly recipient: string; readonly response: string }[];
      readonly refused: readonly RefusedCopy[];
    }
  | { readonly kind: 'already-delivered' }
  | {
      readonly kind: 'partial';
      readonly accepted: number;
      readonly total: number;
      readonly unit: 'copies' | 'recipients';
      readonly refused: readonly RefusedCopy[];
      /** The copies left for the retry and the upstream's answer (or the client's reason) for each. */
      readonly deferred?: readonly RefusedCopy[];
    }
  | { readonly kind: 'upstream-failed'; readonly error: UpstreamError }
  /** Every copy of a split refused permanently, none accepted before: the mailer gets the first refusal. */
  | { readonly kind: 'all-refused'; readonly refused: readonly RefusedCopy[] }
  | { readonly kind: 'refused'; readonly reply: SmtpReply }
  | { readonly kind: 'captured' }
  | { readonly kind: 'held' }
  /** Stored durably with status delayed; leaves at releaseAt unless a person stops it. */
  | { readonly kind: 'delayed'; readonly releaseAt: string }
  /** The sender's breaker is open with action tempfail. */
  | { readonly kind: 'paused' }
  | { readonly kind: 'store-failed' };

/**
 * The one table from outcome to the mailer's reply. 250 appears only where the
 * upstream accepted every copy it will ever get from this transaction, or the
 * message was written durably.
 */
export function replyForOutcome(outcome: Outcome, id: string): SmtpReply {
  switch (outcome.kind) {
    case 'relayed':
      return withId(replyForUpstreamAccept(outcome.response), id);
    case 'split-delivered':
      return withId(
        {
          code: 250,
          enhanced: '2.0.0',
          text:
            `${outcome.copies - outcome.refused.length} of ${outcome.copies} copies accepted upstream, one per recipient` +
            (outcome.earlier ? `; ${outcome.earlier} accepted on an earlier attempt` : '') +
            (outcome.refused.length ? `; ${outcome.refused.length} refused permanently and kept for review` : ''),
        },
        id,
      );
    case 'already-delivered':
      return withId({ code: 250, enhanced: '2.0.0', text: 'already accepted upstream on an earlier attempt' }, id);
    case 'partial':
      return withId(replies.partialDelivery(outcome.accepted, outcome.total, outcome.unit), id);
    case 'upstream-failed':
      return withId(replyForUpstreamError(outcome.error), id);
    case 'all-refused':
      return withId(replyForRefusedCopy(outcome.refused[0]!), id);
    case 'refused':
      return withId(outcome.reply, id);
    case 'captured':
      return replies.captured(id);
    case 'held':
      return replies.held(id);
    case 'delayed':
      return replies.delayed(id, outcome.releaseAt);
    case 'paused':
      return withId(replies.senderPaused(), id);
    case 'store-failed':
      return withId(replies.storeUnavailable(), id);
  }
}

function withId(reply: SmtpReply, id: string): SmtpReply {
  return { ...reply, text: `${reply.text} [${id}]` };
}
