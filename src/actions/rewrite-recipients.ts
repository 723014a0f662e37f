import type { CountedField, MessageAnalysis } from '../analysis/analyse.js';
import { BUILT_IN_COUNTED_HEADERS } from '../analysis/counted-headers.js';
import type { HeaderBlock } from '../analysis/header-block.js';

/** Who may stay named in a copy's kept headers besides internal addresses: the sender. */
export type IsSender = (address: string) => boolean;

/** True when the copy drops this counted field (the one table says how, counted-headers.ts). */
function dropsOnCopy(counted: CountedField, isSender: IsSender): boolean {
  switch (counted.header.onCopy) {
    case 'replace':
      return true;
    case 'keep-if-harmless':
      // A Reply-To naming only the sender or staff is how replies reach the
      // right desk; one that lists the members would expose them all.
      return !counted.addresses.every((a) => a.internal || isSender(a.address));
    case 'keep':
      return false;
  }
}

/**
 * The header block of a bcc or split copy: every counted header the table says
 * to replace (To, Cc, Bcc, Resent-To/Cc/Bcc, all instances) and every
 * Reply-To-like one that names anyone but internal addresses and the sender is
 * removed, and one `To: <to>` stands where the first replaced field stood.
 * Only the header block changes: every other field and the body go out byte
 * for byte. What stays is checked again before sending (outgoing-copies.ts).
 */
export function rewriteRecipients(head: Buffer, analysis: Pick<MessageAnalysis, 'header' | 'countedFields'>, to: string, isSender: IsSender): Buffer {
  const newField = Buffer.from(`To: ${to}\r\n`, 'utf8');
  const parts: Buffer[] = [];
  let cursor = 0;
  let inserted = false;
  for (const counted of analysis.countedFields) {
    if (!dropsOnCopy(counted, isSender)) continue;
    const { field } = counted;
    if (field.start > cursor) parts.push(head.subarray(cursor, field.start));
    if (!inserted && counted.header.onCopy === 'replace') {
      parts.push(newField);
      inserted = true;
    }
    cursor = field.end;
  }
  if (!inserted) {
    // No recipient header at all: add one at the end of the header block.
    const fields = analysis.header.fields;
    const lastField = fields[fields.length - 1];
    const at = Math.max(cursor, lastField ? lastField.end : 0);
    parts.push(head.subarray(cursor, at), newField);
    cursor = at;
  }
  parts.push(head.subarray(cursor));
  return Buffer.concat(parts);
}

// The headers a copy may lose or change: a DKIM signature over any of them fails.
const REWRITTEN = new Set(BUILT_IN_COUNTED_HEADERS.filter((h) => h.onCopy !== 'keep').map((h) => h.lowerName));

/** True when a DKIM-Signature signs a header a rewrite may remove: the copy will fail DKIM. */
export function rewriteBreaksDkim(header: HeaderBlock): boolean {
  return header.fields.some(
    (field) =>
      field.lowerName === 'dkim-signature' &&
      /(?:^|;)\s*h\s*=([^;]*)/i
        .exec(field.value)?.[1]
        ?.split(':')
        .some((h) => REWRITTEN.has(h.trim().toLowerCase())) === true,
  );
}
