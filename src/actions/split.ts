import { UpstreamError } from '../upstream/upstream-error.js';
import { messageChunks, type MessageBytes } from '../message/message-bytes.js';
import type { Outcome, RefusedCopy } from './outcome.js';
import type { OutgoingCopy } from './outgoing-copies.js';
import { earlierAttempt, ledgerDigest, upstreamEnvelope, type RelayDeps } from './relay.js';

/**
 * One upstream transaction per split copy (prepareCopies made them, one per
 * distinct recipient, each checked as it leaves). Copies run `concurrency` at
 * a time; those the ledger says were accepted on an earlier attempt are skipped.
 */
export async function relaySplit(
  deps: RelayDeps & { readonly concurrency: number },
  mailFrom: string,
  copies: readonly OutgoingCopy[],
  original: MessageBytes,
): Promise<Outcome> {
  const { relay, ledger, signal } = deps;
  const recipientOf = (copy: OutgoingCopy): string => copy.envelope.rcptTo[0]!;
  const attempt = earlierAttempt(ledger, mailFrom, original);
  const { digest, earlier } = attempt instanceof Promise ? await attempt : attempt;
  const pending = earlier ? copies.filter((c) => !earlier.has(recipientOf(c).toLowerCase())) : copies;
  if (digest && earlier && pending.length === 0) {
    await ledger.forget(digest);
    return { kind: 'already-delivered' };
  }

  const accepted: string[] = [];
  // The upstream's reply per accepted copy: its queue id is how an operator traces a copy.
  const acceptedReplies: { recipient: string; response: string }[] = [];
  const refused: RefusedCopy[] = [];
  // Copies that must wait for the mailer's retry, and why: the log names each one.
  const deferred: RefusedCopy[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    // Once the mailer's transaction is over (deadline, gone, answered 4xx) no further copy starts.
    while (next < pending.length && !signal?.aborted) {
      const copy = pending[next++]!;
      const recipient = recipientOf(copy);
      try {
        const delivery = await relay.send(upstreamEnvelope(mailFrom, [recipient], copy.message.size, copy.envelope.esmtp), messageChunks(copy.message), signal);
        const rejection = delivery.rejected[0];
        if (!rejection) {
          accepted.push(recipient);
          acceptedReplies.push({ recipient, response: delivery.response });
        } else if (rejection.permanent) refused.push({ recipient, code: rejection.code, response: rejection.response });
        else deferred.push({ recipient, code: rejection.code, response: rejection.response });
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        if (err.kind === 'permanent') refused.push({ recipient, code: err.responseCode ?? 550, response: err.response ?? err.message });
        else deferred.push({ recipient, code: err.responseCode ?? 451, response: err.response ?? `${err.stage} ${err.kind}: ${err.message}` });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.concurrency, pending.length) }, worker));
  if (signal?.aborted) {
    // Copies never started wait for the mailer's retry like deferred ones; those
    // accepted go into the ledger so the retry does not send them again.
    for (const copy of pending.slice(next)) deferred.push({ recipient: recipientOf(copy), code: 451, response: 'not sent: the transaction was cancelled' });
  }

  if (deferred.length > 0) {
    await ledger.recordAccepted(digest ?? ledgerDigest(mailFrom, original), accepted);
    return { kind: 'partial', accepted: (earlier?.size ?? 0) + accepted.length, total: copies.length, unit: 'copies', refused, deferred };
  }
  if (digest && earlier) await ledger.forget(digest);
  // Nothing went out, now or earlier: the upstream's 5xx is the mailer's, not a 250.
  if (accepted.length === 0 && (earlier?.size ?? 0) === 0 && refused.length > 0) return { kind: 'all-refused', refused };
  return { kind: 'split-delivered', copies: pending.length, earlier: earlier?.size ?? 0, accepted, acceptedReplies, refused };
}
