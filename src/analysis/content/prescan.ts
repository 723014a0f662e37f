// The cheap upper bound on the addresses a carrier can hold, from its bytes as
// they are: every address the text scan can find has one at-sign, and an
// at-sign can only be '@', U+FF20 or U+FE6B once read (NFKC), written in the
// part's charset, or a character reference in markup, or a \u escape in JSON.
// Counting those byte sequences with indexOf costs about one memchr per
// pattern; nothing is decoded or copied.

import { isAscii, isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';
import type { Reading } from './part-kind.js';
import { GUESSED_READINGS } from './part-text.js';

/** How a charset writes the at-signs (test/unit/analysis/content checks each table against the decoders). */
export type CharsetFamily =
  | 'utf-8'
  | 'shift_jis'
  | 'euc-jp'
  | 'iso-2022-jp'
  /** Single-byte charsets where only 0x40 reads as an at-sign. */
  | 'single-byte'
  /** No charset, or one nobody here decodes: guessed from the bytes (part-text guessedText). */
  | 'guessed'
  /** unknown-8bit: every legacy reading at once. */
  | 'all-legacy'
  /** Any other charset: no table, so every byte may be an at-sign. */
  | 'other';

const JIS = /^(?:cs)?iso-?2022-?jp(?:-[0-9]+)?$|^jis$/;
const SJIS = /^(?:shift[-_]?jis|sjis|x-sjis|cp932|ms932|windows-31j|ms_kanji|csshiftjis)$/;
const EUCJP = /^(?:euc-?jp|x-euc-jp|cseucpkdfmtjapanese)$/;
const SINGLE = /^(?:iso-?8859-[0-9]+|windows-125[0-8]|cp125[0-8]|latin-?[0-9]|koi8-[rut]|us-ascii|ascii)$/;
const NOT_A_CHARSET = new Set(['base64', 'hex', 'binary']);

export function charsetFamily(charset: string | null): CharsetFamily {
  if (charset === null) return 'guessed';
  const name = charset.replace(/\*.*$/, '').trim().toLowerCase();
  // decodeCharset reads US-ASCII as UTF-8, so its at-signs are UTF-8's.
  if (name === 'utf-8' || name === 'utf8' || name === 'us-ascii' || name === 'ascii') return 'utf-8';
  if (JIS.test(name)) return 'iso-2022-jp';
  if (name === 'unknown-8bit' || name === 'x-unknown') return 'all-legacy';
  if (NOT_A_CHARSET.has(name) || !iconv.encodingExists(name)) return 'guessed';
  if (SJIS.test(name)) return 'shift_jis';
  if (EUCJP.test(name)) return 'euc-jp';
  if (SINGLE.test(name)) return 'single-byte';
  return 'other';
}

const bytes = (...b: number[]): Buffer => Buffer.from(b);
const AT = bytes(0x40);
const AT_SIGNS: Readonly<Record<'utf-8' | 'shift_jis' | 'euc-jp' | 'iso-2022-jp' | 'single-byte', readonly Buffer[]>> = {
  'utf-8': [AT, bytes(0xef, 0xbc, 0xa0), bytes(0xef, 0xb9, 0xab)],
  shift_jis: [AT, bytes(0x81, 0x97)],
  'euc-jp': [AT, bytes(0xa1, 0xf7)],
  // ＠ is row 1 cell 87 of JIS X 0208: "!w" inside an ESC $ B run; counted anywhere after the first ESC.
  'iso-2022-jp': [AT],
  'single-byte': [AT],
};
const JIS_AT = Buffer.from('!w', 'latin1');
const READING_EXTRA: Readonly<Record<Reading, readonly Buffer[]>> = {
  plain: [],
  // Every character reference starts "&#"; &commat; is the only named one that reads as an at-sign.
  markup: [Buffer.from('&#'), Buffer.from('&commat')],
  json: [Buffer.from('\\u')],
  folded: [],
};
const EQUALS = bytes(0x3d);

export function countOf(haystack: Buffer, needle: Buffer, from = 0): number {
  let n = 0;
  if (needle.length === 1) {
    const b = needle[0]!;
    for (let i = haystack.indexOf(b, from); i !== -1; i = haystack.indexOf(b, i + 1)) n++;
    return n;
  }
  for (let i = haystack.indexOf(needle, from); i !== -1; i = haystack.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** The family a guessed charset resolves to for these bytes (the choice guessedText makes). */
function resolved(family: CharsetFamily, decoded: Buffer): CharsetFamily {
  if (family !== 'guessed') return family;
  if (decoded.includes(0x1b)) return 'iso-2022-jp';
  return isUtf8(decoded) ? 'utf-8' : 'all-legacy';
}

/** At-sign sequences in transfer-decoded bytes, times the readings the text is read in. */
export function atSignsIn(decoded: Buffer, charset: string | null, reading: Reading): number {
  const family = resolved(charsetFamily(charset), decoded);
  if (family === 'other') return decoded.length;
  if (family === 'all-legacy' || family === 'guessed') return GUESSED_READINGS * decoded.length;
  // 8-bit bytes in ISO-2022-JP send header-text to encoding-japanese, whose reading of them has no table here.
  if (family === 'iso-2022-jp' && !isAscii(decoded)) return decoded.length;
  return patternCount(decoded, family, reading);
}

function patternCount(buf: Buffer, family: keyof typeof AT_SIGNS, reading: Reading): number {
  let n = 0;
  for (const p of AT_SIGNS[family]) n += countOf(buf, p);
  for (const p of READING_EXTRA[reading]) n += countOf(buf, p);
  if (family === 'iso-2022-jp') {
    const esc = buf.indexOf(0x1b);
    if (esc !== -1) n += countOf(buf, JIS_AT, esc);
  }
  return n;
}

/**
 * A bound for a quoted-printable part without decoding it, or null when the
 * charset must be guessed from decoded bytes. Every at-sign sequence in the
 * decoded text is either written literally in the raw bytes or involves an '='
 * (an escape making one of its bytes, or a soft break splitting it), and each
 * '=' can be involved in at most one: so literal sequences plus '=' count.
 */
export function atSignsInQuotedPrintable(raw: Buffer, charset: string | null, reading: Reading): number | null {
  const family = charsetFamily(charset);
  // ISO-2022-JP too: whether the decoded bytes are 7-bit decides how they are read.
  if (family === 'guessed' || family === 'iso-2022-jp') return null;
  if (family === 'other') return raw.length;
  if (family === 'all-legacy') return GUESSED_READINGS * raw.length;
  return patternCount(raw, family, reading) + countOf(raw, EQUALS);
}
