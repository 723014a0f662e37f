// A header value as a mail client shows it. libmime decodes encoded words in
// UTF-8 and the ISO-8859 family but deliberately refuses UTF-7, which
// Thunderbird and Python decode: `=?utf-7?q?a+AEA-ext.com?=` is `a@ext.com` to
// them. So this decodes every charset iconv-lite knows, ISO-2022-JP through
// encoding-japanese (Japanese mailers still write it raw, without encoded
// words), and raw 8-bit text that is not UTF-8 in every legacy charset a
// client might guess. Where a client could read the bytes several ways, all
// readings are returned side by side: the scan for address text sees the union.

import Encoding from 'encoding-japanese';
import iconv from 'iconv-lite';

export type HeaderText =
  | { readonly ok: true; readonly text: string }
  /** A charset or escape sequence nobody here can decode: what a reader sees is unknown. */
  | { readonly ok: false; readonly why: string };

// Lenient on purpose, like Python's email.header and jsmime: the encoded text
// may hold spaces (`=?utf-7?q?a+AEA-x.com, b+AEA-y.com?=` is one word to them),
// and a word may stand inside an atom or a quoted string.
const ENCODED_WORD = /=\?([^?]*)\?([bBqQ])\?(.*?)\?=/g;
// JIS X 0208 / 0212 / kana designations and the returns to ASCII / JIS-Roman.
// eslint-disable-next-line no-control-regex -- ISO-2022-JP escape sequences start with ESC
const ISO_2022_JP_RUN = /\x1b(?:\$[@B]|\$\(D|\(I)[^\x1b]*(?:\x1b\([BJ])?|\x1b\([BJ]/g;
const JAPANESE_JIS = /^(?:cs)?iso-?2022-?jp(?:-[0-9]+)?$|^jis$/;
// iconv-lite codecs that are transfer encodings, not charsets a client decodes.
const NOT_A_CHARSET = new Set(['base64', 'hex', 'binary']);
// What a client may take raw 8-bit header bytes for when they are not UTF-8:
// Japanese first (the users), then the other common legacy charsets.
const LEGACY_GUESSES = ['shift_jis', 'euc-jp', 'gb18030', 'big5', 'euc-kr', 'windows-1252'];
// Separates readings of the same bytes so no address runs from one into the next.
const READINGS_APART = ' \n ';

/** Bytes in a named charset as text, or null when the charset is unknown. */
export function decodeCharset(bytes: Buffer, charset: string): string | null {
  // RFC 2231 adds a language: `utf-8*ja`.
  const name = charset.replace(/\*.*$/, '').trim().toLowerCase();
  if (name === 'utf-8' || name === 'utf8' || name === 'us-ascii' || name === 'ascii') return bytes.toString('utf8');
  if (JAPANESE_JIS.test(name)) return fromJis(bytes);
  // Written by Python for raw 8-bit it could not name: a client guesses.
  if (name === 'unknown-8bit' || name === 'x-unknown') return legacyReadings(bytes);
  if (NOT_A_CHARSET.has(name) || !iconv.encodingExists(name)) return null;
  return iconv.decode(bytes, name);
}

// The WHATWG decoder (Node's ICU) is 25x faster than encoding-japanese, and
// Japanese mail goes through here on every message; it lacks JIS X 0212
// (ESC $ ( D), for which encoding-japanese takes over.
const ISO_2022_JP = new TextDecoder('iso-2022-jp');

function fromJis(bytes: Buffer): string {
  const text = ISO_2022_JP.decode(bytes);
  return text.includes('\ufffd') ? Encoding.convert(bytes, { from: 'JIS', to: 'UNICODE', type: 'string' }) : text;
}

/** Every way a client might read bytes that are not valid UTF-8. */
function legacyReadings(bytes: Buffer): string {
  return [bytes.toString('utf8'), ...LEGACY_GUESSES.map((c) => iconv.decode(bytes, c))].join(READINGS_APART);
}

function qDecode(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5f) bytes.push(0x20);
    else if (c === 0x3d && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else for (const b of Buffer.from(text[i]!, 'utf8')) bytes.push(b);
  }
  return Buffer.from(bytes);
}

/**
 * Decodes every RFC 2047 encoded word. Whitespace between two encoded words
 * goes (RFC 2047 s6.2), and adjacent words in one charset are decoded as one
 * byte string, as Thunderbird does, so a character split across words (or a
 * UTF-7 run) is not lost.
 */
export function decodeEncodedWords(value: string): HeaderText {
  if (!value.includes('=?')) return { ok: true, text: value };
  let out = '';
  let copied = 0;
  let pending: { charset: string; bytes: Buffer[] } | null = null;
  const flush = (): string | null => {
    if (pending === null) return '';
    const text = decodeCharset(Buffer.concat(pending.bytes), pending.charset);
    if (text === null) return null;
    pending = null;
    return text;
  };
  ENCODED_WORD.lastIndex = 0;
  for (let m = ENCODED_WORD.exec(value); m !== null; m = ENCODED_WORD.exec(value)) {
    const [word, charset = '', encoding = '', payload = ''] = m;
    const between = value.slice(copied, m.index);
    const adjacent = pending !== null && /^[ \t]*$/.test(between);
    const bytes = encoding.toLowerCase() === 'b' ? Buffer.from(payload, 'base64') : qDecode(payload);
    if (adjacent && pending!.charset === charset.toLowerCase()) {
      pending!.bytes.push(bytes);
    } else {
      const before = flush();
      if (before === null) return undecodable(value, copied);
      out += before + (adjacent ? '' : between);
      pending = { charset: charset.toLowerCase(), bytes: [bytes] };
    }
    copied = m.index + word.length;
  }
  const last = flush();
  if (last === null) return undecodable(value, copied);
  return { ok: true, text: out + last + value.slice(copied) };
}

function undecodable(value: string, near: number): HeaderText {
  ENCODED_WORD.lastIndex = 0;
  const words = [...value.matchAll(ENCODED_WORD)];
  const word = words.reverse().find((w) => w.index < near) ?? words[0];
  const charset = (word?.[1] ?? '').replace(/[^\x21-\x7e]/g, '?').slice(0, 40);
  return { ok: false, why: `an encoded word in a charset no reader here can decode (${charset || 'none given'})` };
}

/** Raw ISO-2022-JP escape sequences in an unencoded header, decoded; any other escape is undecodable. */
export function decodeRawEscapes(value: string): HeaderText {
  if (!value.includes('\x1b')) return { ok: true, text: value };
  const text = value.replace(ISO_2022_JP_RUN, (run) => fromJis(Buffer.from(run, 'latin1')));
  if (text.includes('\x1b')) return { ok: false, why: 'an escape sequence that is not ISO-2022-JP' };
  return { ok: true, text };
}

/**
 * The text a reader sees in a header value: raw escapes and encoded words
 * decoded. `raw` is the value's bytes; when they are not valid UTF-8 (the
 * value then holds U+FFFD), every legacy reading is added.
 */
export function readerText(value: string, raw?: Buffer): HeaderText {
  let text = value;
  if (raw !== undefined && text.includes('\ufffd')) text = legacyReadings(raw);
  const unescaped = decodeRawEscapes(text);
  if (!unescaped.ok) return unescaped;
  return decodeEncodedWords(unescaped.text);
}

// Category Cf: zero-width space / joiners, word joiner, soft hyphen, bidi
// marks, embeddings, overrides and isolates, BOM. Invisible, so a person reads
// `a\u200B@ext.com` as an address.
const FORMAT_CHARACTERS = /\p{Cf}/gu;

/**
 * What a person reads: format characters removed and NFKC applied, so that
 * full-width, small-form and other compatibility forms of '@' and '.' count as
 * '@' and '.'. Only for finding address text; the original is kept for display.
 * ASCII text is returned as it is (no cost on the common path).
 */
export function asRead(text: string): string {
  // eslint-disable-next-line no-control-regex -- the ASCII range, NUL included, is the point
  if (!/[^\x00-\x7f]/.test(text)) return text;
  return text.replace(FORMAT_CHARACTERS, '').normalize('NFKC');
}
