// Verify before send (the maddy pattern: a delivery target refuses what it
// must not deliver). Every copy that bcc, split or a release is about to send
// is analysed again exactly as its recipient will receive it, and only a copy
// that passed becomes an OutgoingCopy: relayWhole and relaySplit take nothing
// else, so a rewrite that forgot a header cannot reach the upstream.

import type { Envelope, MessageAnalysis } from '../analysis/analyse.js';
import { normaliseAddress } from '../analysis/domain.js';
import type { Finding } from '../analysis/findings.js';
import { withHead, type MessageBytes } from '../message/message-bytes.js';
import type { EsmtpParams } from '../policy/verdict.js';
import { rewriteRecipients } from './rewrite-recipients.js';

declare const verified: unique symbol;

/** A copy that may leave: analysed as it leaves, or the message as decided (pass, monitor) or approved (release as original). */
/** The envelope a copy leaves with: its recipients and the mailer's ESMTP parameters. */
export type CopyEnvelope = Envelope & { readonly esmtp?: EsmtpParams | undefined };

export interface OutgoingCopy {
  readonly [verified]: true;
  readonly message: MessageBytes;
  readonly envelope: CopyEnvelope;
}

export type CopyForm = 'bcc' | 'split';

export type PreparedCopies =
  | { readonly ok: true; readonly copies: readonly OutgoingCopy[] }
  /** At least one copy would still expose a recipient: none of them may be sent. */
  | { readonly ok: false; readonly form: CopyForm; readonly reason: string };

export type Analyse = (message: MessageBytes, envelope: Envelope) => MessageAnalysis;

const make = (message: MessageBytes, envelope: CopyEnvelope): OutgoingCopy => ({ message, envelope }) as OutgoingCopy;

/** The message as received, for a verdict that lets it leave as it is (pass, monitor). */
export function asDecided(message: MessageBytes, envelope: CopyEnvelope, action: 'pass' | 'monitor'): OutgoingCopy {
  void action; // the parameter type is the check: only these verdicts get here
  return make(message, envelope);
}

/** The message as received, released as original by an approver who chose to let it expose. */
export function asApprovedOriginal(message: MessageBytes, envelope: CopyEnvelope): OutgoingCopy {
  return make(message, envelope);
}

const key = (address: string): string => normaliseAddress(address.replace(/^<|>$/g, ''))?.address ?? address.toLowerCase();

/**
 * Builds the bcc copy (one, to the whole envelope) or the split copies (one per
 * distinct recipient, To = that recipient), analyses each again, and returns
 * them only if every one is safe: a split copy names no other external
 * envelope recipient in any header, a bcc copy no external envelope recipient
 * at all (internal ones, such as the sender's own Bcc to itself, may stay).
 */
export function prepareCopies(analyse: Analyse, message: MessageBytes, analysis: MessageAnalysis, envelope: CopyEnvelope, form: CopyForm): PreparedCopies {
  // A rewrite works from the counted fields; with a finding some may be missing.
  if (analysis.findings.length > 0) return { ok: false, form, reason: `the message could not be read completely (${describe(analysis.findings[0]!)})` };
  const senders = new Set([key(envelope.mailFrom), ...(analysis.headerFrom ? [analysis.headerFrom.address] : [])]);
  const isSender = (address: string): boolean => senders.has(address);
  const recipients = [...new Map(envelope.rcptTo.map((r) => [key(r), r])).entries()];
  // The sender is named in From by nature, also when it sends itself a copy:
  // that is no recipient exposed to the others.
  const exposable = new Set(recipients.map(([k]) => k).filter((k) => !senders.has(k)));

  if (form === 'bcc') {
    const copy = withHead(message, rewriteRecipients(message.head, analysis, 'undisclosed-recipients:;', isSender));
    const problem = unsafe(analyse(copy, envelope), (address) => exposable.has(address));
    if (problem) return { ok: false, form, reason: `the bcc copy would still show ${problem}` };
    return { ok: true, copies: [make(copy, envelope)] };
  }

  const copies: OutgoingCopy[] = [];
  for (const [own, recipient] of recipients) {
    const copyEnvelope = { mailFrom: envelope.mailFrom, rcptTo: [recipient], esmtp: envelope.esmtp };
    const copy = withHead(message, rewriteRecipients(message.head, analysis, `<${recipient}>`, isSender));
    const problem = unsafe(analyse(copy, copyEnvelope), (address) => address !== own && exposable.has(address));
    if (problem) return { ok: false, form, reason: `a split copy would still show ${problem}` };
    copies.push(make(copy, copyEnvelope));
  }
  return { ok: true, copies };
}

/** What makes a copy unsafe for recipients who must not be named in it, in words for the log; null when safe. */
function unsafe(copy: MessageAnalysis, mustNotName: (address: string) => boolean): string | null {
  const finding = copy.findings[0];
  if (finding) return `a header that cannot be checked (${describe(finding)})`;
  const named = copy.exposure.visible.filter((v) => !v.internal && mustNotName(v.address));
  if (named.length === 0) return null;
  const headers = [...new Set(named.flatMap((v) => v.headers))];
  return `${named.length} other external recipient(s) in ${headers.join(', ')}`;
}

function describe(finding: Finding): string {
  switch (finding.kind) {
    case 'malformed':
      return finding.why;
    case 'nul-byte':
      return 'NUL byte';
    case 'header-too-big':
      return `header block over ${finding.maxBytes} bytes`;
    case 'address-budget':
      return `more than ${finding.max} addresses`;
  }
}
