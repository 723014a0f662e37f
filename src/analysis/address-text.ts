// The second half of the conservative count (THREATS.md principle 2): a person
// reading a header sees addresses in display names and comments too, whatever
// the grammar says. So the whole decoded header text is searched for anything
// shaped like local@domain.tld. Over-counting is safe; missing one is not.

import libmime from 'libmime';
import { SmtpReplyError, replies } from '../smtp/replies.js';

// '@' and the full-width / small variants a reader takes for one.
const AT_SIGNS = /[@\uFF20\uFE6B]/g;
// Ideographic, full-width and half-width full stops: UTS-46 maps them to '.'.
const isDot = (c: number): boolean => c === 0x2e || c === 0x3002 || c === 0xff0e || c === 0xff61;
const LETTER_LIKE = /^[\p{L}\p{M}\p{N}]$/u;
const ASCII_ATEXT = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-.") {
  ASCII_ATEXT[ch.charCodeAt(0)] = 1;
}

function isNonAsciiLetter(text: string, i: number, c: number): boolean {
  // Surrogate halves: astral letters (CJK extension B...) are kept; being
  // generous here can only add a candidate, never hide one.
  return (c >= 0xd800 && c <= 0xdfff) || LETTER_LIKE.test(text[i]!);
}
function isLocalChar(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c < 0x80 ? ASCII_ATEXT[c] === 1 : isNonAsciiLetter(text, i, c);
}
function isDomainChar(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c < 0x80) return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) || c === 0x2d || c === 0x5f || c === 0x2e;
  return isDot(c) || isNonAsciiLetter(text, i, c);
}

/**
 * Calls `found` for each local@domain.tld in free text. Each '@' is grown left
 * and right over characters that cannot be an '@', so the grown ranges never
 * overlap and the whole scan is linear in the text (no backtracking regex).
 * Stops early when `found` returns false.
 */
export function scanAddressText(text: string, found: (address: string) => boolean): void {
  AT_SIGNS.lastIndex = 0;
  for (let m = AT_SIGNS.exec(text); m !== null; m = AT_SIGNS.exec(text)) {
    const at = m.index;
    let l = at;
    while (l > 0 && isLocalChar(text, l - 1)) l--;
    while (l < at && text.charCodeAt(l) === 0x2e) l++;
    let r = at + 1;
    while (r < text.length && isDomainChar(text, r)) r++;
    while (r > at + 1 && (isDot(text.charCodeAt(r - 1)) || text.charCodeAt(r - 1) === 0x2d)) r--;
    if (l === at || r === at + 1 || isDot(text.charCodeAt(at + 1))) continue;
    const domain = text.slice(at + 1, r);
    let hasDot = false;
    for (let i = 0; i < domain.length && !hasDot; i++) hasDot = isDot(domain.charCodeAt(i));
    if (!hasDot) continue;
    if (!found(`${text.slice(l, at)}@${domain}`)) return;
  }
}

/**
 * The header value as a reader sees it: quoted local parts taken out (they
 * belong to one structured address, `"x@ext.com"@corp` is a corp mailbox),
 * quoted-pair backslashes dropped, RFC 2047 encoded words decoded.
 */
export function readableText(value: string): string {
  let text = blankQuotedLocalParts(value);
  if (text.includes('\\')) text = text.replace(/\\([\s\S])/g, '$1');
  return decodeEncodedWords(text);
}

export function decodeEncodedWords(text: string): string {
  if (!text.includes('=?')) return text;
  try {
    return libmime.decodeWords(text);
  } catch {
    // An analyser crash would be a 451 and an endless retry; this is the sender's fault.
    throw new SmtpReplyError(replies.malformed('an encoded word that cannot be decoded'));
  }
}

/** Replaces every quoted string that an '@' follows directly (outside comments) with a space. */
function blankQuotedLocalParts(value: string): string {
  if (!value.includes('"')) return value;
  let out = '';
  let copied = 0;
  let depth = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x5c) {
      i++;
    } else if (depth > 0) {
      if (c === 0x28) depth++;
      else if (c === 0x29) depth--;
    } else if (c === 0x28) {
      depth = 1;
    } else if (c === 0x22) {
      const close = closingQuote(value, i + 1);
      if (close === -1) break; // unterminated: leave the rest readable
      if (value.charCodeAt(close + 1) === 0x40) {
        out += value.slice(copied, i) + ' ';
        copied = close + 1;
      }
      i = close;
    }
  }
  return copied === 0 ? value : out + value.slice(copied);
}

function closingQuote(value: string, from: number): number {
  for (let i = from; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i;
  }
  return -1;
}
