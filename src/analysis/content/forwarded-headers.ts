// The addresses in a forwarded header block, read as the root header block is
// (extractAddresses: the structured parse and the decoded text), but only in
// the fields that hold mailboxes: Message-ID, References and their kin are
// addr-like msg-ids that no reader takes for a person.

import { extractAddresses } from '../addresses.js';
import { scanAddressText } from '../address-text.js';
import { asRead } from '../header-text.js';
import { MalformedHeaderError } from '../malformed.js';
import type { PartField } from './part-header.js';

const MAILBOX_FIELDS = new Set([
  'to',
  'cc',
  'bcc',
  'from',
  'sender',
  'reply-to',
  'return-path',
  'delivered-to',
  'mail-followup-to',
  'mail-reply-to',
  'x-sender',
  'x-recipient',
  'x-rcpt-to',
  'envelope-to',
]);
// Resent-To, X-Original-To, Apparently-To, X-Forwarded-To, Errors-To,
// Disposition-Notification-To, X-Original-From, X-Envelope-From...
const MAILBOX_SUFFIX = /-(?:to|cc|bcc|from|sender|recipients?)$/;
const NOT_MAILBOXES = new Set(['in-reply-to']);

export function holdsMailboxes(lowerName: string): boolean {
  return MAILBOX_FIELDS.has(lowerName) || (MAILBOX_SUFFIX.test(lowerName) && !NOT_MAILBOXES.has(lowerName));
}

/** Every address found in the mailbox fields, as found (not normalised), in order. */
export function forwardedAddresses(fields: readonly PartField[]): string[] {
  const found: string[] = [];
  for (const field of fields) {
    if (!holdsMailboxes(field.lowerName)) continue;
    try {
      const result = extractAddresses(field.value, { remaining: Number.MAX_SAFE_INTEGER }, field.raw);
      for (const a of result.addresses) found.push(a.address);
    } catch (err) {
      // What the strict reading refuses in our own header (an encoded word in
      // an addr-spec, a value too convoluted to parse) is still read here: as text.
      if (!(err instanceof MalformedHeaderError)) throw err;
      scanAddressText(asRead(field.value), (a) => found.push(a) > 0);
    }
  }
  return found;
}
