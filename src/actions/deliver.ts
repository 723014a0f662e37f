// The one place where checked copies leave: the proxy (process-message) and a
// reviewer's release (release-record) both come through here, so the ledger
// bracketing and the split fan-out cannot differ between them.

import type { MessageBytes } from '../message/message-bytes.js';
import type { Outcome } from './outcome.js';
import type { OutgoingCopy } from './outgoing-copies.js';
import { relayWhole, type RelayDeps } from './relay.js';
import { relaySplit } from './split.js';

/** `whole`: one transaction to the whole envelope (pass, monitor, bcc, release as original or bcc); `split`: one per copy. */
export type DeliveryShape = 'whole' | 'split';

/**
 * Sends copies that outgoing-copies.ts made (checked as they leave, or the
 * message as decided or approved). `original` is the message as received: the
 * ledger key, the same on the mailer's retry whatever rewrite is sent.
 */
export function deliver(
  deps: RelayDeps & { readonly splitConcurrency: number },
  shape: DeliveryShape,
  copies: readonly OutgoingCopy[],
  original: MessageBytes,
): Promise<Outcome> {
  const relayDeps = { relay: deps.relay, ledger: deps.ledger, signal: deps.signal };
  if (shape === 'whole') return relayWhole(relayDeps, copies[0]!, original);
  return relaySplit({ ...relayDeps, concurrency: deps.splitConcurrency }, copies[0]?.envelope.mailFrom ?? '', copies, original);
}
