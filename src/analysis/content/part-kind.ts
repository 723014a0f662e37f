// What a part is to the content scan, from its MIME headers alone: a container
// to descend into, a carrier of text to read, a spreadsheet, something listed
// as not inspected, or binary that costs nothing but the boundary search.

import type { ContentCarrier, UninspectedPart } from './content-report.js';
import type { PartMeta } from './part-header.js';
import type { SpreadsheetKind } from './spreadsheet-text.js';

/** How a text carrier's characters become what a reader sees. */
export type Reading =
  /** As decoded. */
  | 'plain'
  /** HTML or XML: character references and named entities decoded (tags are kept: a mailto: href counts). */
  | 'markup'
  /** JSON: \uXXXX escapes decoded. */
  | 'json'
  /** vCard, iCalendar: long lines folded (RFC 5545 3.1), read unfolded. */
  | 'folded';

export type PartKind =
  | { readonly kind: 'multipart'; readonly subtype: string }
  | { readonly kind: 'message' }
  | { readonly kind: 'rfc822-headers' }
  | { readonly kind: 'text'; readonly carrier: ContentCarrier; readonly reading: Reading }
  | { readonly kind: 'spreadsheet'; readonly sheet: SpreadsheetKind }
  | { readonly kind: 'uninspected'; readonly why: UninspectedPart['why'] }
  | { readonly kind: 'binary' };

const ARCHIVE_TYPES = new Set([
  'application/zip',
  'application/x-zip-compressed',
  'application/x-zip',
  'application/x-7z-compressed',
  'application/x-rar-compressed',
  'application/vnd.rar',
  'application/x-rar',
  'application/x-tar',
  'application/gzip',
  'application/x-gzip',
  'application/x-gtar',
  'application/x-compressed',
  'application/x-lzh-compressed',
  'application/x-lzh',
  'application/x-bzip2',
  'application/x-xz',
]);
const ARCHIVE_NAME = /\.(?:zip|7z|rar|lzh|lha|tar|gz|tgz|bz2|xz)$/i;
const ENCRYPTED_TYPES = new Set(['application/pkcs7-mime', 'application/x-pkcs7-mime', 'application/pgp-encrypted']);
const SHEET_TYPES: Readonly<Record<string, SpreadsheetKind>> = {
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/vnd.ms-excel.sheet.macroenabled.12': 'xlsx',
  'application/vnd.oasis.opendocument.spreadsheet': 'ods',
};
const SHEET_NAME = /\.(xlsx|xlsm|ods)$/i;
// Delivery and read reports name the recipients (Final-Recipient: rfc822; ...).
const TEXT_APPLICATION = new Set([
  'message/delivery-status',
  'message/global-delivery-status',
  'message/disposition-notification',
  'application/json',
  'application/xml',
  'application/csv',
  'application/x-csv',
  'application/ics',
  'application/vcard',
]);
const TEXT_NAME = /\.(csv|tsv|txt|vcf|json|xml|ics|html?)$/i;
const FOLDED = new Set(['text/calendar', 'text/vcard', 'text/x-vcard', 'text/directory', 'application/ics', 'application/vcard']);

function readingOf(type: string, filename: string | null): Reading {
  const ext = filename === null ? '' : (/\.([a-z0-9]+)$/i.exec(filename)?.[1] ?? '').toLowerCase();
  if (FOLDED.has(type) || ext === 'ics' || ext === 'vcf') return 'folded';
  if (type === 'application/json' || type.endsWith('+json') || ext === 'json') return 'json';
  if (type === 'text/html' || type === 'text/xml' || type === 'application/xml' || type.endsWith('+xml') || /^(?:html?|xml)$/.test(ext)) return 'markup';
  return 'plain';
}

/** `type` is the declared type, or the parent's default when there is none. */
export function partKind(type: string, meta: PartMeta): PartKind {
  const slash = type.indexOf('/');
  const major = type.slice(0, slash);
  const name = meta.filename;
  if (type === 'multipart/encrypted' || ENCRYPTED_TYPES.has(type)) return { kind: 'uninspected', why: 'encrypted' };
  if (major === 'multipart') return { kind: 'multipart', subtype: type.slice(slash + 1) };
  if (type === 'message/rfc822' || type === 'message/global') return { kind: 'message' };
  if (type === 'text/rfc822-headers' || type === 'message/global-headers') return { kind: 'rfc822-headers' };
  if (ARCHIVE_TYPES.has(type) || (name !== null && ARCHIVE_NAME.test(name))) return { kind: 'uninspected', why: 'archive' };
  const sheet = SHEET_TYPES[type] ?? (name !== null ? SHEET_NAME.exec(name)?.[1]?.toLowerCase().replace('xlsm', 'xlsx') : undefined);
  if (sheet === 'xlsx' || sheet === 'ods') return { kind: 'spreadsheet', sheet };
  const textLike =
    major === 'text' ||
    TEXT_APPLICATION.has(type) ||
    type.endsWith('+json') ||
    type.endsWith('+xml') ||
    (major === 'application' && name !== null && TEXT_NAME.test(name));
  if (!textLike) return { kind: 'binary' };
  const reading = readingOf(type, name);
  const inline = meta.disposition !== 'attachment' && name === null;
  if (inline && type === 'text/plain') return { kind: 'text', carrier: 'body-text', reading };
  if (inline && type === 'text/html') return { kind: 'text', carrier: 'body-html', reading };
  return { kind: 'text', carrier: 'text-attachment', reading };
}
