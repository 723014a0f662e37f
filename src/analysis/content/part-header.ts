// The header block of a MIME part or of a forwarded message, read leniently:
// the strict gate (header-block.ts) is for the message we forward; inside the
// body a mailer's sloppiness must not stop the count, so lines without a colon
// are skipped instead of refused.

import libmime from 'libmime';
import type { HeaderBlock } from '../header-block.js';
import { readerText } from '../header-text.js';
import type { BodyBytes } from './body-bytes.js';

export interface PartField {
  readonly lowerName: string;
  /** Unfolded, decoded from UTF-8. */
  readonly value: string;
  /** The unfolded bytes, when `value` holds U+FFFD (not UTF-8): read in legacy charsets. */
  readonly raw: Buffer | undefined;
}

export interface PartHeader {
  readonly fields: readonly PartField[];
  /** Offset of the first body byte. */
  readonly bodyStart: number;
  /** No blank line within MAX_PART_HEADER_BYTES of a larger part: its body cannot be found. */
  readonly lost: boolean;
}

/** What the MIME headers of a part say about its body. */
export interface PartMeta {
  /** Lower-case type/subtype; null when absent (the parent decides the default). */
  readonly contentType: string | null;
  readonly params: Readonly<Record<string, string>>;
  readonly disposition: string | null;
  /** Decoded (RFC 2231 and RFC 2047). */
  readonly filename: string | null;
  /** Lower-case Content-Transfer-Encoding, '7bit' when absent. */
  readonly encoding: string;
}

/** A part's header block larger than this is not a header block anyone writes. */
export const MAX_PART_HEADER_BYTES = 64 * 1024;
const BLANK_LINE = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

export function readPartHeader(body: BodyBytes, start: number, end: number): PartHeader {
  if (end - start < 2) return { fields: [], bodyStart: end, lost: false };
  if (body.startsWith(CRLF, start)) return { fields: [], bodyStart: start + 2, lost: false };
  const limit = Math.min(end, start + MAX_PART_HEADER_BYTES);
  const blank = body.indexOf(BLANK_LINE, start, limit);
  const headerEnd = blank === -1 ? limit : blank + 2;
  const fields = parseFields(body.slice(start, headerEnd));
  if (blank !== -1) return { fields, bodyStart: blank + 4, lost: false };
  return { fields, bodyStart: end, lost: limit < end };
}

export function parseFields(block: Buffer): PartField[] {
  const fields: PartField[] = [];
  const text = block.toString('latin1');
  let name: string | null = null;
  let value = '';
  const close = (): void => {
    if (name === null) return;
    const bytes = Buffer.from(value, 'latin1');
    const utf8 = bytes.toString('utf8');
    fields.push({ lowerName: name, value: utf8, raw: utf8.includes('\ufffd') ? bytes : undefined });
    name = null;
  };
  for (const line of text.split(/\r?\n/)) {
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      if (name !== null) value += line;
      continue;
    }
    close();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    name = line.slice(0, colon).trim().toLowerCase();
    value = line.slice(colon + 1);
  }
  close();
  return fields;
}

/** The root header block analyse() parsed, as part fields. */
export function rootFields(head: Buffer, header: HeaderBlock): PartField[] {
  return header.fields.map((f) => {
    if (!f.value.includes('\ufffd')) return { lowerName: f.lowerName, value: f.value, raw: undefined };
    let end = f.end;
    if (head[end - 2] === 0x0d && head[end - 1] === 0x0a) end -= 2;
    const raw = Buffer.from(head.toString('latin1', f.start + f.name.length + 1, end).replace(/\r\n/g, ''), 'latin1');
    return { lowerName: f.lowerName, value: f.value, raw };
  });
}

function first(fields: readonly PartField[], name: string): string | null {
  for (const f of fields) if (f.lowerName === name) return f.value;
  return null;
}

function parsed(value: string | null): { value: string; params: Record<string, string> } | null {
  if (value === null) return null;
  try {
    const p = libmime.parseHeaderValue(value);
    return { value: p.value.trim().toLowerCase(), params: p.params };
  } catch {
    return null;
  }
}

function decodedName(name: string | undefined): string | null {
  if (name === undefined) return null;
  const decoded = readerText(name);
  const text = (decoded.ok ? decoded.text : name).trim();
  return text === '' ? null : text;
}

export function partMeta(fields: readonly PartField[]): PartMeta {
  const type = parsed(first(fields, 'content-type'));
  const disposition = parsed(first(fields, 'content-disposition'));
  const params = type?.params ?? {};
  const contentType = type !== null && /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type.value) ? type.value : null;
  const encoding = (first(fields, 'content-transfer-encoding') ?? '7bit').trim().toLowerCase();
  return {
    contentType,
    params,
    disposition: disposition?.value ?? null,
    filename: decodedName(disposition?.params.filename) ?? decodedName(params.name),
    encoding,
  };
}
