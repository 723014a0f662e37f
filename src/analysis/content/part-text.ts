// A carrier's bytes as the text a reader sees: transfer decoding, then the
// charset, then the reading of its format (entities, JSON escapes, folding).
// Where the charset is unknown every plausible reading is kept side by side,
// as header-text does for raw 8-bit headers: the union can only add addresses.

import { isUtf8 } from 'node:buffer';
import { decodeHTML } from 'entities';
import { decode as decodeQuotedPrintable } from 'libqp';
import { decodeCharset } from '../header-text.js';
import type { Reading } from './part-kind.js';

/** Separates readings of the same bytes so no address runs from one into the next. */
export const READINGS_APART = ' \n ';
/** The guessed readings of 8-bit text without a usable charset: UTF-8 and header-text's six legacy charsets. */
export const GUESSED_READINGS = 7;

export type TransferEncoding = 'base64' | 'quoted-printable' | 'identity';

export function transferEncoding(cte: string): TransferEncoding {
  if (cte === 'base64') return 'base64';
  if (cte === 'quoted-printable') return 'quoted-printable';
  // 7bit, 8bit, binary, and anything unknown: a reader shows the bytes as they are.
  return 'identity';
}

/** The most bytes transfer decoding can yield: what the decoded-bytes bound is checked against before decoding. */
export function decodedSizeAtMost(rawLength: number, encoding: TransferEncoding): number {
  return encoding === 'base64' ? Math.ceil((rawLength * 3) / 4) : rawLength;
}

export function transferDecode(raw: Buffer, encoding: TransferEncoding): Buffer {
  // Node's base64 decoder skips line breaks and stops at padding; garbage
  // characters are dropped, as most clients do.
  if (encoding === 'base64') return Buffer.from(raw.toString('latin1'), 'base64');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(raw);
  return raw;
}

/** How the charset of a carrier is read; null charset or one nobody knows means guessing. */
export function textOf(bytes: Buffer, charset: string | null): string {
  if (charset !== null) {
    const text = decodeCharset(bytes, charset);
    if (text !== null) return text;
  }
  return guessedText(bytes);
}

/**
 * Text without a (known) charset: ISO-2022-JP when it has escapes (7-bit, so
 * it would pass for UTF-8), UTF-8 when valid, else every reading a client might
 * guess. encoding-japanese's detect would only pick one of the same readings.
 */
export function guessedText(bytes: Buffer): string {
  if (bytes.includes(0x1b)) return decodeCharset(bytes, 'iso-2022-jp')!;
  if (isUtf8(bytes)) return bytes.toString('utf8');
  return decodeCharset(bytes, 'unknown-8bit')!;
}

const JSON_ESCAPE = /\\(?:u([0-9a-fA-F]{4})|([\s\S]))/g;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' };
// RFC 5545 3.1 / RFC 6350 3.2: a line break followed by one space or tab is a fold.
const FOLD = /\r?\n[ \t]/g;
const HAS_FOLD = /\r?\n[ \t]/;

export function readAs(text: string, reading: Reading): string {
  switch (reading) {
    case 'plain':
      return text;
    case 'markup':
      return text.includes('&') ? decodeHTML(text) : text;
    case 'json':
      return text.includes('\\')
        ? text.replace(JSON_ESCAPE, (_m, hex: string | undefined, ch: string | undefined) =>
            hex !== undefined ? String.fromCharCode(parseInt(hex, 16)) : (SIMPLE_ESCAPES[ch!] ?? ch!),
          )
        : text;
    case 'folded':
      // Every CRLF + space is a fold in these formats, and their readers unfold:
      // the pieces of a folded address are not addresses to anyone.
      return HAS_FOLD.test(text) ? text.replace(FOLD, '') : text;
  }
}
