// The strings of an XLSX or ODS attachment, for the content scan to count the
// addresses in them (DESIGN.md "Content beyond the headers"). Bounded on
// hostile input: the message's cell and decoded-bytes budget is spent here.
//
// The reader: no spreadsheet library. Counting addresses needs the strings,
// not a spreadsheet model, so this reads the ZIP directory itself
// (spreadsheet-zip.ts), inflates the few parts that hold strings with Node's
// zlib, whose maxOutputLength stops a zip bomb at exactly the bytes left, and
// scans their XML linearly (spreadsheet-xml.ts). The alternatives, as checked
// for issue 14:
// - SheetJS `xlsx` on npm is frozen at 0.18.5 (later releases are published
//   only on the SheetJS CDN) and that version carries two high advisories for
//   reading crafted files, the exact input here: prototype pollution
//   (CVE-2023-30533, GHSA-4r6h-8v6p-xvw6, fixed in 0.19.3) and ReDoS
//   (CVE-2024-22363, GHSA-5pgg-2g8v-p4x9, fixed in 0.20.2).
// - `exceljs` (4.4.0) does not read ODS, reads through streams and promises
//   (this scan is synchronous and pure) and brings jszip, unzipper, archiver,
//   saxes and five more with it.
// - fflate (0.8.3, zero dependencies) was the first choice for the DEFLATE:
//   its unzipSync hides the encryption flag and decodes a lying entry to its
//   end, and its streaming Inflate took 130 ms to reach 5 MB of a bomb that
//   zlib stops at 4 MB in 3-15 ms (a full 40 MiB: fflate 430-700 ms, zlib
//   20-270 ms). It is kept as a dev dependency: the fixtures are written with it.

import { hasEncryptionInfo, isCompoundFile } from './spreadsheet-cfb.js';
import { readOdsContent, readSharedStrings, readWorksheet, readWorksheetRelationships, type PartSink } from './spreadsheet-parts.js';
import { inflateEntry, readZipDirectory, type ZipEntry } from './spreadsheet-zip.js';

export type SpreadsheetKind = 'xlsx' | 'ods';

/** What is left of the message's bounds; the reader decrements it as it reads. */
export interface SpreadsheetBudget {
  cells: number;
  decodedBytes: number;
}

export type SpreadsheetText =
  /** The text of every string cell (and link target), XML entities decoded, in sheet order. */
  | { readonly ok: true; readonly texts: readonly string[]; readonly cells: number }
  | { readonly ok: false; readonly why: 'encrypted' | 'unreadable' }
  /** A bound of the budget was reached: what was read so far is in `texts`. */
  | { readonly ok: false; readonly why: 'bound'; readonly bound: 'cells' | 'decoded-bytes'; readonly texts: readonly string[] };

const ENCRYPTED: SpreadsheetText = { ok: false, why: 'encrypted' };
const UNREADABLE: SpreadsheetText = { ok: false, why: 'unreadable' };

interface PartToRead {
  readonly entry: ZipEntry;
  readonly read: (xml: string, sink: PartSink) => void;
}

/**
 * `kind` (from the part's content type or filename) says which layout to try
 * first; a ZIP holding the other layout is read as that, since a renamed file
 * opens just the same for its recipient. Never throws.
 */
export function readSpreadsheetText(bytes: Uint8Array, kind: SpreadsheetKind, budget: SpreadsheetBudget): SpreadsheetText {
  try {
    return read(bytes, kind, budget);
  } catch {
    // Every path above is bounds-checked; this is the promise that no byte
    // sequence can take the scan down with it (a RangeError from a decoder, say).
    return UNREADABLE;
  }
}

function read(bytes: Uint8Array, kind: SpreadsheetKind, budget: SpreadsheetBudget): SpreadsheetText {
  if (isCompoundFile(bytes)) return hasEncryptionInfo(bytes) ? ENCRYPTED : UNREADABLE;
  const entries = readZipDirectory(bytes);
  if (entries === null) return UNREADABLE;
  if (entries.some((entry) => entry.encrypted)) return ENCRYPTED;
  const parts = kind === 'ods' ? (odsParts(entries) ?? xlsxParts(entries)) : (xlsxParts(entries) ?? odsParts(entries));
  if (parts === null) return UNREADABLE;

  const sink: PartSink = { texts: [], cellsLeft: budget.cells, cellsRead: 0, cellsExhausted: false };
  for (const part of parts) {
    const inflated = inflateEntry(bytes, part.entry, budget.decodedBytes);
    if (!inflated.ok) {
      if (inflated.why === 'unreadable') return UNREADABLE;
      budget.decodedBytes = Math.max(0, budget.decodedBytes - inflated.inflated);
      return { ok: false, why: 'bound', bound: 'decoded-bytes', texts: sink.texts };
    }
    budget.decodedBytes -= inflated.bytes.length;
    part.read(decodeXmlPart(inflated.bytes), sink);
    budget.cells = sink.cellsLeft;
    if (sink.cellsExhausted) return { ok: false, why: 'bound', bound: 'cells', texts: sink.texts };
  }
  return { ok: true, texts: sink.texts, cells: sink.cellsRead };
}

const SHARED_STRINGS = /(^|\/)sharedStrings[^/]*\.xml$/i;
const WORKSHEET = /(^|\/)(worksheets|macrosheets|dialogsheets)\/[^/]+\.xml$/i;
const WORKSHEET_RELS = /(^|\/)(worksheets|macrosheets|dialogsheets)\/_rels\/[^/]+\.rels$/i;
const WORKBOOK = /(^|\/)workbook[^/]*\.xml$/i;

/** Found by name, not through [Content_Types].xml or the workbook's relationships: a sloppy or hostile writer may leave those wrong. */
function xlsxParts(entries: readonly ZipEntry[]): PartToRead[] | null {
  const named = (pattern: RegExp): ZipEntry[] => entries.filter((entry) => pattern.test(entry.name)).sort(bySheetNumber);
  const shared = named(SHARED_STRINGS);
  const sheets = named(WORKSHEET);
  if (shared.length === 0 && sheets.length === 0 && !entries.some((entry) => WORKBOOK.test(entry.name))) return null;
  return [
    ...shared.map((entry) => ({ entry, read: readSharedStrings })),
    ...sheets.map((entry) => ({ entry, read: readWorksheet })),
    ...named(WORKSHEET_RELS).map((entry) => ({ entry, read: readWorksheetRelationships })),
  ];
}

function odsParts(entries: readonly ZipEntry[]): PartToRead[] | null {
  const content = entries.filter((entry) => entry.name === 'content.xml');
  return content.length === 0 ? null : content.map((entry) => ({ entry, read: readOdsContent }));
}

/** sheet2.xml before sheet10.xml. */
function bySheetNumber(a: ZipEntry, b: ZipEntry): number {
  return a.name.localeCompare(b.name, 'en', { numeric: true });
}

const utf8 = new TextDecoder('utf-8');
const utf16le = new TextDecoder('utf-16le');

/** XML parts are UTF-8 unless a byte-order mark says UTF-16 (XML 1.0 §4.3.3); invalid sequences read as U+FFFD. */
function decodeXmlPart(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return utf16le.decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return utf16le.decode(swapBytes(bytes.subarray(2)));
  return utf8.decode(bytes);
}

function swapBytes(bytes: Uint8Array): Uint8Array {
  const swapped = new Uint8Array(bytes.length & ~1);
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    swapped[i] = bytes[i + 1] ?? 0;
    swapped[i + 1] = bytes[i] ?? 0;
  }
  return swapped;
}
