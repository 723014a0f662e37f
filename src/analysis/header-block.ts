// The strict gate (THREATS.md principle 2): a header block that readers could
// split into fields differently is refused instead of guessed at, because the
// guess that matters is the recipient's mail client, not ours.

import { HeaderTooBigError, MalformedHeaderError } from './malformed.js';

export interface HeaderField {
  /** As written. */
  readonly name: string;
  readonly lowerName: string;
  /** Byte offset of the first byte of the field in the message. */
  readonly start: number;
  /** Byte offset just past the CRLF that ends the field's last line (or the message end). */
  readonly end: number;
  /**
   * Text after the colon, decoded from UTF-8 (SMTPUTF8), unfolded (CRLF before
   * WSP removed), otherwise as written: leading whitespace is kept.
   */
  readonly value: string;
}

export interface HeaderBlock {
  readonly fields: readonly HeaderField[];
  /** Offset of the first body byte, after the empty line; message.length when there is no body. */
  readonly bodyOffset: number;
}

const BLANK_LINE = Buffer.from('\r\n\r\n', 'latin1');
// RFC 5322 ftext: printable US-ASCII except ':'. Stricter than what some
// readers accept on purpose: "To :" or "\uFEFFTo:" is a To header to one
// reader and an unknown field to another.
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
// Input is CRLF-normalised already; this catches callers that skipped that.
const BAD_BYTE = /\0|\r(?!\n)|(?<!\r)\n/;
const BOM_LATIN1 = '\xef\xbb\xbf';

function malformed(why: string): MalformedHeaderError {
  return new MalformedHeaderError(why);
}

/**
 * Splits the header block of a CRLF-normalised message into fields. Throws
 * MalformedHeaderError, or HeaderTooBigError past maxHeaderBytes.
 */
export function parseHeaderBlock(message: Buffer, maxHeaderBytes: number): HeaderBlock {
  const { headerEnd, bodyOffset } = findHeaderEnd(message, maxHeaderBytes);
  if (headerEnd === 0) return { fields: [], bodyOffset };

  // latin1 keeps 1 char = 1 byte, so string offsets are message offsets.
  const text = message.toString('latin1', 0, headerEnd);
  const bad = BAD_BYTE.exec(text);
  if (bad) throw malformed(bad[0] === '\0' ? 'NUL byte in the header block' : 'bare CR or LF in the header block');

  const fields: HeaderField[] = [];
  let fieldStart = -1;
  let colon = -1;
  let name = '';
  const close = (end: number): void => {
    if (fieldStart < 0) return;
    const contentEnd = text.endsWith('\r\n', end) ? end - 2 : end;
    let value = message.toString('utf8', colon + 1, contentEnd);
    // Every CRLF left inside a field is a fold (the next line starts with WSP).
    if (value.includes('\r')) value = value.replace(/\r\n/g, '');
    fields.push({ name, lowerName: name.toLowerCase(), start: fieldStart, end, value });
  };

  let pos = 0;
  while (pos < headerEnd) {
    let eol = text.indexOf('\r\n', pos);
    const next = eol === -1 ? headerEnd : eol + 2;
    if (eol === -1) eol = headerEnd;
    const first = text.charCodeAt(pos);
    if (first === 0x20 || first === 0x09) {
      if (fieldStart < 0) throw malformed('the first header line starts with whitespace');
    } else {
      close(pos);
      colon = text.indexOf(':', pos);
      if (colon === -1 || colon > eol) throw malformed('a header line without a colon');
      name = text.slice(pos, colon);
      if (name === '') throw malformed('a header line with an empty name');
      if (!FIELD_NAME.test(name)) {
        throw malformed(
          name.startsWith(BOM_LATIN1) ? 'a byte order mark before the first header' : 'a header name with a space, control or non-ASCII character',
        );
      }
      fieldStart = pos;
    }
    pos = next;
  }
  close(headerEnd);
  return { fields, bodyOffset };
}

/**
 * Finds where the header block ends without looking further than
 * maxHeaderBytes + 2 bytes, so a huge header costs a bounded scan.
 * headerEnd is just past the last field's CRLF; bodyOffset skips the blank line.
 */
function findHeaderEnd(message: Buffer, maxHeaderBytes: number): { headerEnd: number; bodyOffset: number } {
  if (message[0] === 0x0d && message[1] === 0x0a) return { headerEnd: 0, bodyOffset: 2 };
  const limit = Math.min(message.length, maxHeaderBytes + 2);
  const blank = message.subarray(0, limit).indexOf(BLANK_LINE);
  if (blank !== -1) return { headerEnd: blank + 2, bodyOffset: blank + 4 };
  // No blank line: the whole message is headers, if it fits.
  if (message.length <= maxHeaderBytes) return { headerEnd: message.length, bodyOffset: message.length };
  throw new HeaderTooBigError(maxHeaderBytes);
}

/** A field's value as bytes (unfolded), for reading text that is not UTF-8 in other charsets. */
export function rawValue(message: Buffer, field: HeaderField): Buffer {
  let end = field.end;
  if (message[end - 2] === 0x0d && message[end - 1] === 0x0a) end -= 2;
  const bytes = message.subarray(field.start + field.name.length + 1, end);
  return bytes.includes('\r\n') ? Buffer.from(bytes.toString('latin1').replace(/\r\n/g, ''), 'latin1') : bytes;
}
