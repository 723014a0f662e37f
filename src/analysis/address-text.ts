// The second half of the conservative count (THREATS.md principle 2): a person
// reading a header sees addresses in display names and comments too, whatever
// the grammar says. So the whole decoded header text is searched for anything
// shaped like local@domain.tld. Over-counting is safe; missing one is not.

import { asRead, readerText } from './header-text.js';
import { MalformedHeaderError } from './malformed.js';

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
 * The header value as a reader sees it, ready for the address-text scan: raw
 * ISO-2022-JP and encoded words decoded in every charset (legacy readings of
 * raw 8-bit added), quoted-pair backslashes dropped, format characters removed
 * and NFKC applied. Quoted strings stay: `"a@x.com, b@y.com"@corp` shows as
 * `a@x.com, b@y.com@corp` in postal-mime, so what is inside them is read too.
 * Throws MalformedHeaderError when a charset or escape cannot be decoded.
 */
export function readableText(value: string, raw?: Buffer): string {
  const decoded = readerText(value, raw);
  if (!decoded.ok) throw new MalformedHeaderError(decoded.why);
  let text = decoded.text;
  if (text.includes('\\')) text = text.replace(/\\([\s\S])/g, '$1');
  return asRead(text);
}
