import type { MessageBytes } from '../message/message-bytes.js';
import { newMessageId } from '../message/message-id.js';
import type { MessageStore } from '../store/message-store.js';
import { buildRecord, type RecordInput } from './build-record.js';
import type { DeliveryLedger } from '../store/message-store.js';
import type { Outcome } from './outcome.js';
import type { OutgoingCopy } from './outgoing-copies.js';
import { ledgerDigest } from './relay.js';

/**
 * Copies the upstream refused for good are kept as `failed` records, one per
 * recipient, with the bytes that were offered and the upstream's reply, so
 * nothing is lost and an operator can resend them. If the store cannot take
 * them, the delivered recipients go to the ledger and the mailer gets 451: its
 * retry re-offers only the refused ones and tries the store again.
 */
export async function keepRefusedCopies(
  deps: { store: MessageStore; ledger: DeliveryLedger },
  outcome: Outcome,
  base: Omit<RecordInput, 'id' | 'status' | 'failure' | 'message'>,
  sent: { original: MessageBytes; copies: readonly OutgoingCopy[] },
): Promise<Outcome> {
  if ((outcome.kind !== 'relayed' && outcome.kind !== 'split-delivered') || outcome.refused.length === 0) return outcome;
  try {
    for (const refused of outcome.refused) {
      // The bytes that were offered: the recipient's own split copy, or the one copy of a whole relay.
      const message = (sent.copies.find((c) => c.envelope.rcptTo.length === 1 && c.envelope.rcptTo[0] === refused.recipient) ?? sent.copies[0]!).message;
      const { record, raw } = buildRecord({
        ...base,
        id: newMessageId(),
        status: 'failed',
        message,
        context: { ...base.context, rcptTo: [refused.recipient] },
        failure: refused,
        note: `refused by the upstream: ${refused.code} ${refused.response}`,
      });
      await deps.store.put(record, raw);
    }
    return outcome;
  } catch {
    const mailFrom = base.context.mailFrom;
    await deps.ledger.recordAccepted(ledgerDigest(mailFrom, sent.original), outcome.accepted);
    const total = base.context.rcptTo.length;
    return { kind: 'partial', accepted: outcome.accepted.length, total, unit: outcome.kind === 'relayed' ? 'recipients' : 'copies', refused: outcome.refused };
  }
}
