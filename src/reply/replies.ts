// Every reply mail-guard itself gives to a mailer, in one place. Texts carry the
// RFC 3463 enhanced code first (smtp-server's own enhanced codes stay off so
// they are never doubled) and a reason a person can act on. Public text never
// names rules, domain lists or addresses.

export interface SmtpReply {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

/** The line as it goes on the wire, without CRLF. */
export function formatReply(reply: SmtpReply): string {
  return `${reply.code} ${reply.enhanced} ${reply.text}`;
}

// eslint-disable-next-line no-control-regex -- control characters are what is removed
const CONTROL_CHARACTERS = /[\x00-\x1f\x7f]+/g;

// Client-controlled or upstream text must never split a reply line.
export function sanitizeReplyText(text: string): string {
  return text.replace(CONTROL_CHARACTERS, ' ').trim().slice(0, 400);
}

/** An error that ends a transaction with a known SMTP reply. smtp-server reads `responseCode`. */
export class SmtpReplyError extends Error {
  override readonly name = 'SmtpReplyError';
  readonly responseCode: number;
  constructor(readonly reply: SmtpReply) {
    super(`${reply.enhanced} ${sanitizeReplyText(reply.text)}`);
    this.responseCode = reply.code;
  }
}

function joinPlaces(places: readonly string[]): string {
  if (places.length === 0) return 'its content';
  if (places.length === 1) return places[0]!;
  return `${places.slice(0, -1).join(', ')} and ${places[places.length - 1]!}`;
}

const r = (code: number, enhanced: string, text: string): SmtpReply => ({ code, enhanced, text });

export const replies = {
  clientNotAllowed: () => r(554, '5.7.1', 'Your address is not allowed to relay through this host; ask the mail-guard operator to add it to smtp.allowFrom'),
  tooManyConnections: () => r(421, '4.7.0', 'Too many connections from your address; try again later'),
  senderNotAllowed: () => r(553, '5.7.1', 'Sender address not allowed for this login'),
  tooManyRecipients: (max: number) => r(452, '4.5.3', `Too many recipients in one transaction (limit ${max}); send the rest in another transaction`),
  messageTooBig: (max: number) => r(552, '5.3.4', `Message exceeds the size limit of ${max} bytes`),
  headerTooBig: (max: number) => r(552, '5.3.4', `Message header block exceeds the limit of ${max} bytes`),
  malformed: (why: string) => r(554, '5.6.0', `Malformed message header: ${why}`),
  nulByte: () => r(554, '5.6.0', 'Message contains a NUL byte, which mail may not carry (RFC 5322); encode binary content with base64'),
  tooManyAddresses: (max: number) => r(550, '5.7.1', `Message headers list more than ${max} addresses; send with Bcc (one recipient per To header) instead`),
  exposure: (count: number, headers: readonly string[], what = 'external recipient addresses') =>
    r(550, '5.7.1', `Message exposes ${count} ${what} to each other in ${headers.join(', ') || 'its headers'}; send with Bcc or one message per recipient`),
  // The kinds of place only ("an attachment", "a forwarded message", "the message text"): never a filename from the message or a rule.
  contentAddresses: (count: number, places: readonly string[]) =>
    r(
      550,
      '5.7.1',
      `Message lists ${count} external addresses in ${joinPlaces(places)}; remove the address list from the message, or share it in a way that does not send it to every recipient`,
    ),
  tooManySplitCopies: (count: number, max: number) =>
    r(550, '5.5.3', `Message would need ${count} separate copies, above the limit of ${max}; send in smaller batches with Bcc`),
  analysisFailed: () => r(451, '4.3.0', 'Message could not be checked; try again later'),
  transactionTimeout: () => r(451, '4.4.2', 'Transaction took too long; try again'),
  shuttingDown: () => r(421, '4.3.2', 'mail-guard is shutting down; try again later'),
  upstreamUnreachable: () => r(451, '4.4.1', 'Upstream relay is unreachable; try again later'),
  upstreamDropped: () => r(451, '4.4.2', 'Upstream relay dropped the connection; try again later (the message may be delivered twice)'),
  partialDelivery: (accepted: number, total: number, unit: 'copies' | 'recipients') =>
    r(451, '4.4.0', `${accepted} of ${total} ${unit} were accepted upstream; try again later and only the rest will be sent`),
  held: (id: string) => r(250, '2.0.0', `held for review ${id}`),
  delayed: (id: string, releaseAt: string) => r(250, '2.0.0', `queued, leaves at ${releaseAt} ${id}`),
  // The mailer keeps the message queued and retries; the operator resets the breaker once the cause is fixed.
  senderPaused: () =>
    r(451, '4.7.1', 'Mail from this sender is paused after repeated policy violations; try again later, or ask the mail-guard operator to reset its breaker'),
  captured: (id: string) => r(250, '2.0.0', `captured in rehearsal mode, nothing was sent ${id}`),
  storeUnavailable: () => r(451, '4.3.0', 'Message could not be stored; try again later'),
} as const;
