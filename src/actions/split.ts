import type { HeaderBlock } from '../analysis/header-block.js';
import { UpstreamError } from '../upstream/upstream-error.js';
import { messageChunks, withHead, type MessageBytes } from '../message/message-bytes.js';
import type { Outcome, RefusedCopy } from './outcome.js';
import { ledgerDigest, type RelayDeps, type RelayEnvelope } from './relay.js';
import { rewriteVisibleRecipients } from './rewrite-recipients.js';

/**
 * One upstream transaction per envelope recipient, each copy showing only its
 * own recipient in To. Copies run `concurrency` at a time.
 */
export async function relaySplit(
  deps: RelayDeps & { readonly concurrency: number },
  envelope: RelayEnvelope,
  original: MessageBytes,
  header: HeaderBlock,
): Promise<Outcome> {
  const { relay, ledger } = deps;
  const recipients = [...new Map(envelope.rcptTo.map((r) => [r.toLowerCase(), r])).values()];
  const digest = ledger.size > 0 ? ledgerDigest(envelope.mailFrom, original) : null;
  const earlier = digest ? ledger.acceptedRecipients(digest) : undefined;
  const pending = earlier ? recipients.filter((r) => !earlier.has(r.toLowerCase())) : recipients;
  if (digest && pending.length === 0) {
    await ledger.forget(digest);
    return { kind: 'already-delivered' };
  }

  const accepted: string[] = [];
  const refused: RefusedCopy[] = [];
  let temporaryFailures = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pending.length) {
      const recipient = pending[next++]!;
      // Only the head is rewritten; every copy shares the body chunks.
      const copy = withHead(original, rewriteVisibleRecipients(original.head, header, `<${recipient}>`));
      try {
        const delivery = await relay.send({ mailFrom: envelope.mailFrom, rcptTo: [recipient], size: copy.size }, messageChunks(copy));
        const rejection = delivery.rejected[0];
        if (!rejection) accepted.push(recipient);
        else if (rejection.permanent) refused.push({ recipient, code: rejection.code, response: rejection.response });
        else temporaryFailures++;
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        if (err.kind === 'permanent') refused.push({ recipient, code: err.responseCode ?? 550, response: err.response ?? err.message });
        else temporaryFailures++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.concurrency, pending.length) }, worker));

  if (temporaryFailures > 0) {
    await ledger.recordAccepted(digest ?? ledgerDigest(envelope.mailFrom, original), accepted);
    return { kind: 'partial', accepted: (earlier?.size ?? 0) + accepted.length, total: recipients.length, unit: 'copies', refused };
  }
  if (digest && earlier) await ledger.forget(digest);
  return { kind: 'split-delivered', copies: pending.length, earlier: earlier?.size ?? 0, accepted, refused };
}
