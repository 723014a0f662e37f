import type { DeliveryLedger } from '../store/message-store.js';
import type { Outcome, RefusedCopy } from '../actions/outcome.js';
import { asApprovedOriginal, prepareCopies, type Analyse } from '../actions/outgoing-copies.js';
import { deliver } from '../actions/deliver.js';
import type { Relay } from '../actions/relay.js';
import { assembleMessage } from '../message/message-bytes.js';
import { StoreConflictError, type MessageStore } from '../store/message-store.js';
import { historyEntry as entry, type MessageRecord, type RecordStatus } from '../store/record.js';
import type { ReleaseForm } from './lifecycle.js';
import { UpstreamError } from '../upstream/upstream-error.js';
import { esmtpFromRecord } from '../actions/stored-esmtp.js';

export interface ReleaseDeps {
  readonly store: MessageStore;
  /** null: rehearsal mode, nothing may leave the machine. */
  readonly relay: Relay | null;
  readonly ledger: DeliveryLedger;
  readonly maxHeaderBytes: number;
  readonly splitConcurrency: number;
  /** The proxy's analyser: every bcc and split copy of a release is checked as it leaves. */
  readonly analyse: Analyse;
  /** store.claimLeaseSeconds: the claim's lease, renewed every third of it while the release runs (default 300). */
  readonly claimLeaseSeconds?: number;
}

const DEFAULT_LEASE_SECONDS = 300;

/** A bcc or split copy of the stored message would still expose a recipient: nothing was sent. */
class UnsafeCopyError extends Error {
  override readonly name = 'UnsafeCopyError';
}

export type ReleaseResult =
  /** The upstream accepted the message (or every copy it will get); the record is `released`. */
  | { readonly kind: 'released'; readonly record: MessageRecord; readonly upstreamReply: string; readonly refused: readonly RefusedCopy[] }
  | { readonly kind: 'not-found' }
  /** Not releasable now: wrong status, claimed by a concurrent release, rehearsal mode. Nothing was sent. */
  | {
      readonly kind: 'conflict';
      readonly message: string;
      readonly current: RecordStatus | 'releasing' | null;
      /** A bcc or split copy would still expose a recipient; the stored message needs a person. */
      readonly unsafe?: true;
    }
  /**
   * Nothing, or only part, went out; the claim was given back so the record can be
   * released again (the delivery ledger makes that send only what was not accepted).
   */
  | {
      readonly kind: 'upstream-failed';
      readonly message: string;
      readonly upstreamReply: string;
      /** The connection broke after the message was sent: the upstream may have it, a new release may duplicate it. */
      readonly possiblyDelivered: boolean;
      /** False when the store could not take the claim back: the record stays locked until an operator looks. */
      readonly releasable: boolean;
      /** The upstream refused every copy for good: sending again will not help. */
      readonly permanent: boolean;
      /** When permanent: each refused recipient with the upstream's reply. */
      readonly refused: readonly RefusedCopy[];
    }
  /** The upstream accepted it but the store could not record that: the claim is kept so it cannot go out twice. */
  | { readonly kind: 'unrecorded'; readonly message: string; readonly upstreamReply: string };

/** How much of the upstream's replies a history entry keeps: enough to trace, bounded for a 1000-copy split. */
const MAX_REPLIES_KEPT = 10;
const MAX_REPLY_CHARS = 2000;

/**
 * Releases one stored message to the upstream, at most once: the store's claim is
 * the lock (atomic across processes sharing the store), and it is given back only
 * when nothing or part went out, never after the upstream accepted everything.
 * Authorisation (roles, four-eyes) is the caller's; `allowedFrom` is the status
 * the caller checked, so a concurrent change between its check and the claim
 * becomes a conflict instead of a release.
 */
export async function releaseRecord(
  deps: ReleaseDeps,
  id: string,
  as: ReleaseForm,
  actor: string,
  allowedFrom: readonly RecordStatus[],
  reason: string | null = null,
): Promise<ReleaseResult> {
  const { store } = deps;
  if (deps.relay === null) {
    const record = await store.get(id);
    if (!record) return { kind: 'not-found' };
    return {
      kind: 'conflict',
      message: 'no upstream configured: mail-guard runs in rehearsal mode and cannot release anything; configure `upstream` to release',
      current: record.status,
    };
  }

  const leaseMs = (deps.claimLeaseSeconds ?? DEFAULT_LEASE_SECONDS) * 1000;
  let claimed: MessageRecord;
  try {
    claimed = await store.claimRelease(id, allowedFrom, new Date(Date.now() + leaseMs));
  } catch (err) {
    if (!(err instanceof StoreConflictError)) throw err;
    if (err.current === null) return { kind: 'not-found' };
    return { kind: 'conflict', message: conflictMessage(err.current), current: err.current };
  }
  // The lease says "a release is running": renewed while it does, it runs out
  // only when this process died or stalled, and the claim then shows as expired.
  const renewal = setInterval(() => void store.renewRelease(id, new Date(Date.now() + leaseMs)).catch(() => undefined), leaseMs / 3);
  renewal.unref();
  try {
    return await releaseClaimed(deps, deps.relay, claimed, as, actor, reason);
  } finally {
    clearInterval(renewal);
  }
}

async function releaseClaimed(
  deps: ReleaseDeps,
  upstream: Relay,
  claimed: MessageRecord,
  as: ReleaseForm,
  actor: string,
  reason: string | null,
): Promise<ReleaseResult> {
  const { store } = deps;
  const id = claimed.id;
  const replies: string[] = [];
  const relay = recordingReplies(upstream, replies);
  const note = (what: string): string => (reason ? `as ${as}: ${what}; ${reason}` : `as ${as}: ${what}`);
  let outcome: Outcome;
  try {
    outcome = await relayAs(deps, relay, claimed, as);
  } catch (err) {
    // Relaying turns every upstream failure into an Outcome; what lands here happened
    // before anything was sent (unreadable raw, a header that cannot be rewritten).
    // If the claim cannot be given back the record stays locked: stuck beats sent twice.
    await store.abandonRelease(id, entry(actor, 'release-failed', note(`not sent: ${describe(err)}`))).catch(() => undefined);
    if (err instanceof UnsafeCopyError) {
      return {
        kind: 'conflict',
        message: `not sent as ${as}: ${err.message}; an approver may release it as original, or discard it`,
        current: claimed.status,
        unsafe: true,
      };
    }
    throw err;
  }

  const upstreamReply = summarise(replies);
  const sent = whatWentOut(outcome);
  if (sent === null) {
    const what =
      outcome.kind === 'partial'
        ? `${outcome.accepted} of ${outcome.total} ${outcome.unit} accepted upstream; release again to send only the rest`
        : 'the upstream accepted nothing';
    const possiblyDelivered = outcome.kind === 'upstream-failed' && outcome.error.possiblyDelivered;
    const failed = entry(
      actor,
      'release-failed',
      note(possiblyDelivered ? `${what} (the connection broke after the data: the upstream may have it)` : what),
      upstreamReply,
    );
    const releasable = await store.abandonRelease(id, failed).then(
      () => true,
      () => false,
    );
    return {
      kind: 'upstream-failed',
      message:
        `the upstream relay did not take the message: ${what}` + (releasable ? '' : '; the store could not take the claim back, the record stays locked'),
      upstreamReply,
      possiblyDelivered,
      releasable,
      ...refusedForGood(outcome, claimed),
    };
  }

  try {
    const record = await store.completeRelease(id, entry(actor, 'release', note(sent.what), upstreamReply));
    return { kind: 'released', record, upstreamReply, refused: sent.refused };
  } catch (err) {
    // Keep the claim: a second release would send it twice.
    return {
      kind: 'unrecorded',
      message:
        `the upstream accepted the message but the store could not record the release (${describe(err)}); ` +
        'the record stays locked so it cannot go out twice',
      upstreamReply,
    };
  }
}

async function relayAs(deps: ReleaseDeps, relay: Relay, record: MessageRecord, as: ReleaseForm): Promise<Outcome> {
  const raw = await deps.store.raw(record.id);
  if (raw === null) throw new Error('the stored message bytes are missing');
  const message = assembleMessage([raw], deps.maxHeaderBytes);
  const relayDeps = { relay, ledger: deps.ledger, splitConcurrency: deps.splitConcurrency };
  // With the ESMTP parameters it came with (DSN, 8BITMIME, SMTPUTF8, REQUIRETLS): a faithful hop, later.
  const envelope = { ...record.envelope, esmtp: esmtpFromRecord(record.esmtp) };
  if (as === 'original') return deliver(relayDeps, 'whole', [asApprovedOriginal(message, envelope)], message);
  const prepared = prepareCopies(deps.analyse, message, deps.analyse(message, envelope), envelope, as);
  if (!prepared.ok) throw new UnsafeCopyError(prepared.reason);
  return deliver(relayDeps, as === 'bcc' ? 'whole' : 'split', prepared.copies, message);
}

/**
 * What went out, for the history; null when nothing went out or some of it is
 * still owed (partial: the ledger remembers what was accepted). Permanently
 * refused recipients next to accepted ones do not make it a failure: the
 * accepted copies are out, and sending again would duplicate them.
 */
function whatWentOut(outcome: Outcome): { what: string; refused: readonly RefusedCopy[] } | null {
  const refusedNote = (refused: readonly RefusedCopy[], unit: string): string => (refused.length ? `; ${refused.length} ${unit} refused permanently` : '');
  switch (outcome.kind) {
    case 'relayed': // send() resolves only when at least one recipient was accepted
      return { what: 'accepted upstream' + refusedNote(outcome.refused, 'recipient(s)'), refused: outcome.refused };
    case 'split-delivered': {
      const accepted = outcome.copies - outcome.refused.length;
      if (accepted + outcome.earlier === 0) return null;
      const earlier = outcome.earlier ? `; ${outcome.earlier} accepted on an earlier attempt` : '';
      return { what: `${accepted} of ${outcome.copies} copies accepted upstream${earlier}${refusedNote(outcome.refused, 'copies')}`, refused: outcome.refused };
    }
    case 'already-delivered':
      return { what: 'every copy was accepted on an earlier attempt', refused: [] };
    default:
      return null;
  }
}

/** Whether the upstream refused everything for good, and whom with what. */
function refusedForGood(outcome: Outcome, record: MessageRecord): { permanent: boolean; refused: readonly RefusedCopy[] } {
  if (outcome.kind === 'all-refused') return { permanent: true, refused: outcome.refused };
  if (outcome.kind === 'upstream-failed' && outcome.error.kind === 'permanent') {
    const { error } = outcome;
    const rejected = error.rejected?.filter((r) => r.permanent).map((r) => ({ recipient: r.recipient, code: r.code, response: r.response }));
    const refused = rejected?.length
      ? rejected
      : record.envelope.rcptTo.map((recipient) => ({ recipient, code: error.responseCode ?? 550, response: error.response ?? error.message }));
    return { permanent: true, refused };
  }
  return { permanent: false, refused: [] };
}

/** The relay as the release sees it: every reply line is kept for the history entry. */
function recordingReplies(inner: Relay, replies: string[]): Relay {
  return {
    async send(envelope, message) {
      try {
        const delivery = await inner.send(envelope, message);
        replies.push(delivery.response, ...delivery.rejected.map((r) => r.response));
        return delivery;
      } catch (err) {
        if (err instanceof UpstreamError) replies.push(err.response ?? err.message);
        throw err;
      }
    },
  };
}

function summarise(replies: readonly string[]): string {
  if (replies.length === 0) return 'nothing was sent (every recipient was accepted on an earlier attempt)';
  const kept = replies.slice(0, MAX_REPLIES_KEPT).map((r) => r.replace(/\s+/g, ' ').trim());
  const more = replies.length > MAX_REPLIES_KEPT ? `; … ${replies.length - MAX_REPLIES_KEPT} more` : '';
  return (kept.join('; ') + more).slice(0, MAX_REPLY_CHARS);
}

function conflictMessage(current: RecordStatus | 'releasing'): string {
  switch (current) {
    case 'releasing':
      return 'another release of this message is in progress';
    case 'released':
      return 'the message was already released';
    case 'discarded':
      return 'the message was discarded';
    default:
      return `the message is ${current} and cannot be released from that status`;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
