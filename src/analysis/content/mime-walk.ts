// The MIME tree of a message, found by boundary search over the body chunks
// in place: nothing is decoded here (except a forward sent base64-encoded,
// which must be decoded to be walked at all) and binary parts cost only the
// search for the boundary that ends them. Part numbers are IMAP sections.

import type { ContentCarrier, PartPlace, UninspectedPart } from './content-report.js';
import { BodyBytes } from './body-bytes.js';
import { partMeta, readPartHeader, type PartField } from './part-header.js';
import { partKind, type Reading } from './part-kind.js';
import { decodedSizeAtMost, transferDecode, transferEncoding, type TransferEncoding } from './part-text.js';
import type { ScanState } from './scan-state.js';
import type { SpreadsheetKind } from './spreadsheet-text.js';

/** The body of a part, still transfer-encoded. */
export interface BodyRef {
  readonly body: BodyBytes;
  readonly start: number;
  readonly end: number;
  readonly encoding: TransferEncoding;
  readonly charset: string | null;
}

export type WalkItem =
  /** The header block of a forward (reported at the message/rfc822 part's number). */
  | { readonly kind: 'headers'; readonly place: PartPlace; readonly fields: readonly PartField[] }
  /** text/rfc822-headers: a header block as the body. */
  | { readonly kind: 'rfc822-headers'; readonly place: PartPlace; readonly ref: BodyRef }
  | { readonly kind: 'text'; readonly place: PartPlace; readonly carrier: ContentCarrier; readonly reading: Reading; readonly ref: BodyRef }
  | { readonly kind: 'spreadsheet'; readonly place: PartPlace; readonly sheet: SpreadsheetKind; readonly ref: BodyRef };

export interface Walk {
  readonly items: WalkItem[];
  readonly uninspected: UninspectedPart[];
}

// RFC 2046 allows 70 characters; a longer one is not a boundary a mailer wrote.
const MAX_BOUNDARY = 200;
// The first '-' of "\r\n--boundary": absent from base64, so the search runs at memchr speed.
const DASH_ANCHOR = 2;
// Transport padding after a delimiter (RFC 2046 5.1.1): a line is at most 998 octets.
const MAX_PADDING = 998;

interface Entity {
  readonly body: BodyBytes;
  readonly fields: readonly PartField[];
  readonly start: number;
  readonly end: number;
  /** The section number of this entity when it is a leaf ("1", "2.1"). */
  readonly number: string;
  /** What its children are numbered under: "" at the root, else the number. */
  readonly childPrefix: string;
  readonly depth: number;
  readonly defaultType: string;
}

/** Fills `walk` as it goes, so what was found survives a bound or a failure part-way. */
export function walkMessage(body: BodyBytes, fields: readonly PartField[], state: ScanState, walk: Walk): void {
  walkEntity({ body, fields, start: 0, end: body.length, number: '1', childPrefix: '', depth: 0, defaultType: 'text/plain' }, walk, state);
}

function walkEntity(e: Entity, walk: Walk, state: ScanState): void {
  if (state.stopped || state.outOfTime()) return;
  if (++state.parts > state.limits.maxParts) return state.stop('parts');
  if (e.depth > state.limits.maxDepth) return state.stop('depth');
  const meta = partMeta(e.fields);
  const contentType = meta.contentType ?? e.defaultType;
  const place: PartPlace = { part: e.number, contentType, filename: meta.filename };
  const kind = partKind(contentType, meta);
  const ref = (): BodyRef => ({
    body: e.body,
    start: e.start,
    end: e.end,
    encoding: transferEncoding(meta.encoding),
    charset: meta.params.charset?.trim() || null,
  });
  switch (kind.kind) {
    case 'multipart': {
      const boundary = meta.params.boundary;
      // Without a usable boundary a client shows the body as text: so is it read.
      if (!boundary || boundary.length > MAX_BOUNDARY || !walkMultipart(e, boundary, kind.subtype, walk, state)) {
        walk.items.push({ kind: 'text', place, carrier: 'body-text', reading: 'plain', ref: ref() });
      }
      return;
    }
    case 'message':
      return walkForward(e, place, ref(), walk, state);
    case 'rfc822-headers':
      walk.items.push({ kind: 'rfc822-headers', place, ref: ref() });
      return;
    case 'text':
      walk.items.push({ kind: 'text', place, carrier: kind.carrier, reading: kind.reading, ref: ref() });
      return;
    case 'spreadsheet':
      walk.items.push({ kind: 'spreadsheet', place, sheet: kind.sheet, ref: ref() });
      return;
    case 'uninspected':
      walk.uninspected.push({ ...place, why: kind.why });
      return;
    case 'binary':
      return;
  }
}

/** A forward: its header block is a carrier, its body is walked as a message of its own. */
function walkForward(e: Entity, place: PartPlace, ref: BodyRef, walk: Walk, state: ScanState): void {
  let body = e.body;
  let start = e.start;
  let end = e.end;
  if (ref.encoding !== 'identity') {
    // Not allowed for message/rfc822 (RFC 2046 5.2.1), but written and shown.
    if (!state.take(decodedSizeAtMost(end - start, ref.encoding))) return;
    const decoded = transferDecode(e.body.slice(start, end), ref.encoding);
    body = new BodyBytes([decoded]);
    start = 0;
    end = decoded.length;
  }
  const header = readPartHeader(body, start, end);
  walk.items.push({ kind: 'headers', place, fields: header.fields });
  if (header.lost) return void walk.uninspected.push({ ...place, why: 'unreadable' });
  const inner = { body, fields: header.fields, start: header.bodyStart, end, depth: e.depth + 1, defaultType: 'text/plain' };
  walkEntity({ ...inner, number: `${e.number}.1`, childPrefix: e.number }, walk, state);
}

/** Walks each part between the delimiters; false when there is not a single delimiter. */
function walkMultipart(e: Entity, boundary: string, subtype: string, walk: Walk, state: ScanState): boolean {
  const dash = Buffer.from(`--${boundary}`, 'latin1');
  const delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  const defaultType = subtype === 'digest' ? 'message/rfc822' : 'text/plain';
  let partStart = -1;
  let index = 0;
  const emit = (partEnd: number): void => {
    const number = e.childPrefix === '' ? String(++index) : `${e.childPrefix}.${++index}`;
    const header = readPartHeader(e.body, partStart, partEnd);
    const child = { body: e.body, fields: header.fields, start: header.bodyStart, end: partEnd, number, childPrefix: number, depth: e.depth + 1, defaultType };
    if (header.lost) {
      if (++state.parts > state.limits.maxParts) return state.stop('parts');
      const meta = partMeta(header.fields);
      walk.uninspected.push({ part: number, contentType: meta.contentType ?? defaultType, filename: meta.filename, why: 'unreadable' });
      return;
    }
    walkEntity(child, walk, state);
  };

  // The first delimiter may open the body; every other follows a line break.
  let at = e.body.startsWith(dash, e.start) ? e.start - 2 : e.body.indexOf(delimiter, e.start, e.end, DASH_ANCHOR);
  while (at !== -1 && !state.stopped) {
    const after = at + delimiter.length;
    const closing = e.body.byteAt(after) === 0x2d && e.body.byteAt(after + 1) === 0x2d;
    const lineEnd = closing ? after + 2 : delimiterLineEnd(e.body, after, e.end);
    if (lineEnd === -1) {
      // "--abcdef" when the boundary is "abc": a line of the part, not a delimiter.
      at = e.body.indexOf(delimiter, at + 1, e.end, DASH_ANCHOR);
      continue;
    }
    if (partStart !== -1) emit(Math.max(partStart, at));
    if (closing) return true;
    partStart = lineEnd;
    at = e.body.indexOf(delimiter, Math.max(lineEnd - 2, at + 1), e.end, DASH_ANCHOR);
  }
  if (partStart === -1) return false;
  // Never closed: the last part runs to the end, as clients show it.
  if (!state.stopped) emit(e.end);
  return true;
}

/** Just past the line break that ends a delimiter line, the end of the range, or -1 when the line goes on. */
function delimiterLineEnd(body: BodyBytes, from: number, end: number): number {
  let i = from;
  while (i < end && i - from < MAX_PADDING && (body.byteAt(i) === 0x20 || body.byteAt(i) === 0x09)) i++;
  if (i >= end) return end;
  if (body.byteAt(i) === 0x0d && body.byteAt(i + 1) === 0x0a) return i + 2;
  return -1;
}
