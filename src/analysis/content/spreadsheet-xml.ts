// A linear scan of the XML parts of a spreadsheet: start tags, end tags and
// character data, nothing else. No DOM and no DTD: an attacker's part can be
// as large as the decoded-bytes bound allows, and every character is looked at
// a bounded number of times (indexOf forward only, no backtracking pattern).
// Elements are matched by local name, so `<x:c>` (the OpenXML SDK's prefixed
// output) reads the same as `<c>`.

export interface XmlVisitor {
  /** Return false to stop the scan (a bound was reached). */
  open(local: string, rawAttributes: string, selfClosing: boolean): boolean;
  close(local: string): void;
  /** Whether character data is wanted at this point: skipped text is never sliced or decoded. */
  readonly wantsText: boolean;
  /** Character data, entities decoded (CDATA as written). */
  text(decoded: string): void;
}

export function scanXml(xml: string, visitor: XmlVisitor): void {
  const n = xml.length;
  let i = 0;
  while (i < n) {
    const lt = xml.indexOf('<', i);
    const textEnd = lt < 0 ? n : lt;
    if (textEnd > i && visitor.wantsText) visitor.text(decodeXmlEntities(xml.slice(i, textEnd)));
    if (lt < 0) return;
    if (xml.startsWith('<!--', lt)) {
      i = skipPast(xml, '-->', lt + 4);
    } else if (xml.startsWith('<![CDATA[', lt)) {
      const end = xml.indexOf(']]>', lt + 9);
      if (visitor.wantsText) visitor.text(xml.slice(lt + 9, end < 0 ? n : end));
      i = end < 0 ? n : end + 3;
    } else if (xml.startsWith('<?', lt)) {
      i = skipPast(xml, '?>', lt + 2);
    } else if (xml.startsWith('<!', lt)) {
      // A DOCTYPE: its entity declarations are never expanded (no billion laughs), only skipped.
      const bracket = xml.indexOf('[', lt);
      const close = xml.indexOf('>', lt);
      i = bracket >= 0 && bracket < close ? skipPast(xml, '>', skipPast(xml, ']', bracket)) : close < 0 ? n : close + 1;
    } else if (xml.charCodeAt(lt + 1) === 0x2f /* / */) {
      const close = xml.indexOf('>', lt);
      if (close < 0) return;
      visitor.close(localName(xml.slice(lt + 2, close).trim()));
      i = close + 1;
    } else {
      const close = tagEnd(xml, lt + 1);
      if (close < 0) return;
      const selfClosing = xml.charCodeAt(close - 1) === 0x2f;
      const inner = xml.slice(lt + 1, selfClosing ? close - 1 : close);
      const nameEnd = nameLength(inner);
      if (!visitor.open(localName(inner.slice(0, nameEnd)), inner.slice(nameEnd), selfClosing)) return;
      if (selfClosing) visitor.close(localName(inner.slice(0, nameEnd)));
      i = close + 1;
    }
  }
}

function skipPast(xml: string, marker: string, from: number): number {
  const at = xml.indexOf(marker, from);
  return at < 0 ? xml.length : at + marker.length;
}

/** The `>` ending a start tag, skipping quoted attribute values (which may hold `>`). */
function tagEnd(xml: string, from: number): number {
  let quote = 0;
  for (let at = from; at < xml.length; at++) {
    const c = xml.charCodeAt(at);
    if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === 0x22 || c === 0x27) {
      quote = c;
    } else if (c === 0x3e) {
      return at;
    }
  }
  return -1;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function nameLength(inner: string): number {
  let at = 0;
  while (at < inner.length && !isSpace(inner.charCodeAt(at)) && inner.charCodeAt(at) !== 0x2f) at++;
  return at;
}

function localName(qualified: string): string {
  const colon = qualified.lastIndexOf(':');
  return colon < 0 ? qualified : qualified.slice(colon + 1);
}

/** The value of the attribute with this local name (any prefix), entities decoded, or null. */
export function attribute(rawAttributes: string, wanted: string): string | null {
  const s = rawAttributes;
  let at = 0;
  while (at < s.length) {
    while (at < s.length && isSpace(s.charCodeAt(at))) at++;
    const nameStart = at;
    while (at < s.length && s.charCodeAt(at) !== 0x3d /* = */ && !isSpace(s.charCodeAt(at))) at++;
    const name = s.slice(nameStart, at);
    while (at < s.length && isSpace(s.charCodeAt(at))) at++;
    if (s.charCodeAt(at) !== 0x3d) {
      if (at === nameStart) at++;
      continue;
    }
    at++;
    while (at < s.length && isSpace(s.charCodeAt(at))) at++;
    const quote = s.charCodeAt(at);
    if (quote !== 0x22 && quote !== 0x27) continue;
    const end = s.indexOf(String.fromCharCode(quote), at + 1);
    const valueEnd = end < 0 ? s.length : end;
    if (localName(name) === wanted) return decodeXmlEntities(s.slice(at + 1, valueEnd));
    at = valueEnd + 1;
  }
  return null;
}

const NAMED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
/** Longest reference worth reading: `&#x10FFFF;` and `&#1114111;` are 10. */
const MAX_REFERENCE = 10;

/** The five predefined entities and numeric references (XML 1.0 §4.1, §4.6); anything else is left as written. */
export function decodeXmlEntities(s: string): string {
  let amp = s.indexOf('&');
  if (amp < 0) return s;
  let out = '';
  let from = 0;
  while (amp >= 0) {
    const semi = s.indexOf(';', amp + 1);
    if (semi < 0) break;
    if (semi - amp <= MAX_REFERENCE) {
      const decoded = decodeReference(s.slice(amp + 1, semi));
      if (decoded !== null) {
        out += s.slice(from, amp) + decoded;
        from = semi + 1;
      }
    }
    amp = s.indexOf('&', amp + 1);
  }
  return out + s.slice(from);
}

function decodeReference(name: string): string | null {
  if (name.charCodeAt(0) !== 0x23 /* # */) return NAMED[name] ?? null;
  const hex = name.charCodeAt(1) === 0x78 || name.charCodeAt(1) === 0x58;
  const digits = name.slice(hex ? 2 : 1);
  if (digits === '' || !(hex ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/).test(digits)) return null;
  const code = Number.parseInt(digits, hex ? 16 : 10);
  if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) || code === 0) return '\ufffd';
  return String.fromCodePoint(code);
}
