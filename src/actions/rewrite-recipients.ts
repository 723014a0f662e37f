import type { HeaderBlock } from '../analysis/header-block.js';
import { VISIBLE_ADDRESS_HEADERS } from '../analysis/exposure-report.js';

const VISIBLE = new Set<string>(VISIBLE_ADDRESS_HEADERS);

/**
 * Replaces every visible address header (To, Cc, Bcc, Resent-To, Resent-Cc, all
 * instances) with one `To:` line, placed where the first of them stood. Only the
 * header block changes: every other field and the body go out byte for byte.
 * Resent-* go too: leaving them would let the rewritten copy expose the same
 * addresses it was rewritten to hide.
 */
export function rewriteVisibleRecipients(message: Buffer, header: HeaderBlock, to: string): Buffer {
  const newField = Buffer.from(`To: ${to}\r\n`, 'utf8');
  const parts: Buffer[] = [];
  let cursor = 0;
  let inserted = false;
  for (const field of header.fields) {
    if (!VISIBLE.has(field.lowerName)) continue;
    if (field.start > cursor) parts.push(message.subarray(cursor, field.start));
    if (!inserted) {
      parts.push(newField);
      inserted = true;
    }
    cursor = field.end;
  }
  if (!inserted) {
    // No recipient header at all: add one at the end of the header block.
    const lastField = header.fields[header.fields.length - 1];
    const at = lastField ? lastField.end : 0;
    parts.push(message.subarray(0, at), newField);
    cursor = at;
  }
  parts.push(message.subarray(cursor));
  return Buffer.concat(parts);
}

/** True when a DKIM-Signature signs a header the rewrite removes: the copy will fail DKIM. */
export function rewriteBreaksDkim(header: HeaderBlock): boolean {
  return header.fields.some(
    (field) =>
      field.lowerName === 'dkim-signature' &&
      /(?:^|;)\s*h\s*=([^;]*)/i.exec(field.value)?.[1]?.split(':').some((h) => VISIBLE.has(h.trim().toLowerCase())) === true,
  );
}
