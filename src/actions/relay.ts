import { createHash } from 'node:crypto';
import { messageChunks, type MessageBytes } from '../message/message-bytes.js';
import type { DeliveryLedger } from '../store/message-store.js';
import type { EsmtpParams } from '../policy/verdict.js';
import type { UpstreamDelivery, UpstreamEnvelope } from '../upstream/pool.js';
import { UpstreamError } from '../upstream/upstream-error.js';
import type { Outcome, RefusedCopy } from './outcome.js';
import type { OutgoingCopy } from './outgoing-copies.js';

export interface RelayEnvelope {
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
}

/** The upstream as the actions see it: the pool, or anything that sends like it. */
export interface Relay {
  /**
   * `signal`: the mailer's transaction is over (deadline, gone, answered 4xx):
   * nothing more of it may start, and what has not sent its final dot is
   * abandoned; rejects then with an UpstreamError of kind 'cancelled'.
   */
  send(envelope: UpstreamEnvelope, message: readonly Buffer[], signal?: AbortSignal): Promise<UpstreamDelivery>;
}

// eslint-disable-next-line no-control-regex -- the ASCII range, NUL included, is the point
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The upstream envelope for these recipients, with the mailer's ESMTP
 * parameters: BODY, SMTPUTF8 (also needed for any non-ASCII address),
 * REQUIRETLS, RET/ENVID and each recipient's NOTIFY/ORCPT.
 */
export function upstreamEnvelope(mailFrom: string, rcptTo: readonly string[], size: number, esmtp: EsmtpParams | undefined): UpstreamEnvelope {
  const smtputf8 = (esmtp?.smtputf8 ?? false) || NON_ASCII.test(mailFrom) || rcptTo.some((r) => NON_ASCII.test(r));
  if (!esmtp) return { mailFrom, rcptTo, size, smtputf8 };
  return {
    mailFrom,
    rcptTo,
    size,
    smtputf8,
    eightBitMime: esmtp.eightBitMime,
    requireTLS: esmtp.requireTLS,
    dsn: { ret: esmtp.ret, envid: esmtp.envid },
    recipientParams: esmtp.recipients,
  };
}

export interface RelayDeps {
  readonly relay: Relay;
  readonly ledger: DeliveryLedger;
  /** The mailer's transaction; absent for a reviewer's release, which nobody waits on with a deadline. */
  readonly signal?: AbortSignal | undefined;
}

/** The ledger key: the same for the mailer's retry of the same message, whatever rewrite is sent. */
export function ledgerDigest(mailFrom: string, original: MessageBytes): string {
  const hash = createHash('sha256').update(mailFrom).update('\0');
  for (const chunk of messageChunks(original)) hash.update(chunk);
  return hash.digest('hex');
}

export type EarlierAttempt = { readonly digest: string | null; readonly earlier: ReadonlySet<string> | undefined };
const NO_EARLIER_ATTEMPT: EarlierAttempt = { digest: null, earlier: undefined };

/**
 * What the ledger says about this message before it is sent: its digest
 * (null when the ledger is known to be empty, so nothing is hashed) and the
 * recipients accepted on an earlier attempt. Without a promise when the ledger
 * is known to be empty: the clean path pays no extra await.
 */
export function earlierAttempt(ledger: DeliveryLedger, mailFrom: string, original: MessageBytes): EarlierAttempt | Promise<EarlierAttempt> {
  if (!ledger.mayHoldEntries) return NO_EARLIER_ATTEMPT;
  return lookUpEarlierAttempt(ledger, mailFrom, original);
}

async function lookUpEarlierAttempt(ledger: DeliveryLedger, mailFrom: string, original: MessageBytes): Promise<EarlierAttempt> {
  const digest = ledgerDigest(mailFrom, original);
  const earlier = await ledger.acceptedRecipients(digest);
  return { digest, earlier: earlier.size > 0 ? earlier : undefined };
}

/**
 * One upstream transaction for the whole envelope (pass, monitor, bcc). When the
 * upstream refuses some recipients temporarily, the ones it accepted are
 * remembered and the mailer gets 451: its retry reaches only the rest.
 * `original` is the message as received: the ledger key must be the same on the
 * retry even when the copy is a rewrite.
 */
export async function relayWhole(deps: RelayDeps, copy: OutgoingCopy, original: MessageBytes): Promise<Outcome> {
  const { relay, ledger, signal } = deps;
  const { envelope, message } = copy;
  const attempt = earlierAttempt(ledger, envelope.mailFrom, original);
  const { digest, earlier } = attempt instanceof Promise ? await attempt : attempt;
  const pending = earlier ? envelope.rcptTo.filter((r) => !earlier.has(r.toLowerCase())) : envelope.rcptTo;
  if (digest && earlier && pending.length === 0) {
    await ledger.forget(digest);
    return { kind: 'already-delivered' };
  }

  let delivery: UpstreamDelivery;
  try {
    delivery = await relay.send(upstreamEnvelope(envelope.mailFrom, pending, message.size, envelope.esmtp), messageChunks(message), signal);
  } catch (err) {
    if (err instanceof UpstreamError) return { kind: 'upstream-failed', error: err };
    throw err;
  }

  const refused: RefusedCopy[] = delivery.rejected.filter((r) => r.permanent).map((r) => ({ recipient: r.recipient, code: r.code, response: r.response }));
  const someDeferred = delivery.rejected.some((r) => !r.permanent);
  // Accepted after the transaction was cancelled (its dot was already out), so the
  // mailer was told to try again: its retry must find these recipients done.
  const cancelled = signal?.aborted === true;
  if (someDeferred || cancelled) await ledger.recordAccepted(digest ?? ledgerDigest(envelope.mailFrom, original), delivery.accepted);
  if (someDeferred) {
    return {
      kind: 'partial',
      accepted: (earlier?.size ?? 0) + delivery.accepted.length,
      total: envelope.rcptTo.length,
      unit: 'recipients',
      refused,
    };
  }
  if (digest && earlier && !cancelled) await ledger.forget(digest);
  return { kind: 'relayed', response: delivery.response, accepted: delivery.accepted, refused };
}
