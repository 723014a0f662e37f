// DESIGN.md "Content beyond the headers": the bounded content scan. The MIME
// tree is found by boundary search over the body chunks in place (mime-walk);
// the pre-scan bounds the at-signs of the carriers from their bytes (prescan)
// and, when no rule could be violated, returns without decoding anything else.
// Otherwise every carrier is decoded and read as the header count reads
// headers. Pure: the clock is the caller's, and no input makes it throw.

import type { AnalysisInput, Envelope } from '../analyse.js';
import { makeDomainClassifier } from '../domain.js';
import type { HeaderBlock } from '../header-block.js';
import { AddressTally } from './address-tally.js';
import { BodyBytes } from './body-bytes.js';
import { Carrier } from './carrier.js';
import type { ContentReport, ContentScanOptions, PartPlace, UninspectedPart } from './content-report.js';
import { forwardedAddresses } from './forwarded-headers.js';
import { walkMessage, type Walk, type WalkItem } from './mime-walk.js';
import { parseFields, rootFields } from './part-header.js';
import { readAs, textOf } from './part-text.js';
import { ScanState } from './scan-state.js';
import { readSpreadsheetText } from './spreadsheet-text.js';
import { scanText } from './text-scan.js';

/** `header`: the root header block analyse() already parsed (MessageAnalysis.header). */
export type ContentScan = (message: AnalysisInput, header: HeaderBlock, envelope: Envelope) => ContentReport;

/** A walked item with what reading it has produced so far (shared by the pre-scan and the full scan). */
interface Read {
  readonly item: WalkItem;
  readonly carrier: Carrier | null;
  /** A header block's addresses, as found. */
  headerAddresses: string[] | null;
}

export function createContentScanner(options: ContentScanOptions): ContentScan {
  const isInternal = makeDomainClassifier(options.internalDomains);
  return (message, header, envelope) => {
    const state = new ScanState(options.limits, options.now);
    const walk: Walk = { items: [], uninspected: [] };
    try {
      const chunks = [message.head.subarray(header.bodyOffset), ...message.rest];
      walkMessage(new BodyBytes(chunks), rootFields(message.head, header), state, walk);
    } catch {
      // Never for any bytes, by design; should it happen, the message is not passed unread.
      walk.uninspected.push({ part: '1', contentType: 'text/plain', filename: null, why: 'unreadable' });
    }
    const reads: Read[] = walk.items.map((item) => ({ item, carrier: item.kind === 'headers' ? null : new Carrier(item.ref, state), headerAddresses: null }));

    if (!state.stopped && walk.uninspected.length === 0) {
      const atMost = preScan(reads, walk.uninspected, options.skipAtOrBelow);
      if (atMost !== null && !state.stopped && walk.uninspected.length === 0) return { scanned: false, atMost };
    }
    return fullScan(reads, walk.uninspected, state, new AddressTally(isInternal, envelope));
  };
}

function headerAddressesOf(read: Read): string[] | null {
  if (read.headerAddresses !== null) return read.headerAddresses;
  const item = read.item;
  if (item.kind === 'headers') return (read.headerAddresses = forwardedAddresses(item.fields));
  const bytes = read.carrier!.bytes();
  return bytes === null ? null : (read.headerAddresses = forwardedAddresses(parseFields(bytes)));
}

/**
 * The at-signs the carriers can hold, or null as soon as it is more than
 * `skipAtOrBelow` (or unknowable without reading: a spreadsheet). A header
 * block is simply read: that is as cheap as bounding it.
 */
function preScan(reads: readonly Read[], uninspected: UninspectedPart[], skipAtOrBelow: number): number | null {
  let total = 0;
  for (const read of reads) {
    const item = read.item;
    let here: number | null;
    if (item.kind === 'headers' || item.kind === 'rfc822-headers') here = headerAddressesOf(read)?.length ?? null;
    else if (item.kind === 'spreadsheet') here = null;
    else {
      here = read.carrier!.atSigns(item.reading);
      if (read.carrier!.holdsPgpMessage()) uninspected.push({ ...item.place, why: 'encrypted' });
    }
    if (here === null) return null;
    total += here;
    if (total > skipAtOrBelow) return null;
  }
  return total;
}

function fullScan(reads: readonly Read[], uninspected: UninspectedPart[], state: ScanState, tally: AddressTally): ContentReport {
  for (const read of reads) {
    if (state.outOfTime()) break;
    try {
      readOne(read, uninspected, state, tally);
    } catch {
      uninspected.push({ ...read.item.place, why: 'unreadable' });
    }
  }
  uninspected.sort((a, b) => comparePlaces(a, b));
  return { scanned: true, externalCount: tally.all.size, locations: tally.locations, uninspected, bound: state.bound };
}

function readOne(read: Read, uninspected: UninspectedPart[], state: ScanState, tally: AddressTally): void {
  const item = read.item;
  if (item.kind === 'headers' || item.kind === 'rfc822-headers') {
    const found = headerAddressesOf(read);
    if (found === null) return;
    const part = tally.part(item.place, 'forwarded-headers');
    for (const a of found) part.add(a);
    return part.done();
  }
  const carrier = read.carrier!;
  const bytes = carrier.bytes();
  if (bytes === null) return;
  if (item.kind === 'spreadsheet') return readSpreadsheet(item.place, bytes, item.sheet, uninspected, state, tally);
  if (carrier.holdsPgpMessage()) uninspected.push({ ...item.place, why: 'encrypted' });
  const part = tally.part(item.place, item.carrier);
  scanText(readAs(textOf(bytes, carrier.charset), item.reading), state, part.add);
  part.done();
}

function readSpreadsheet(place: PartPlace, bytes: Buffer, sheet: 'xlsx' | 'ods', uninspected: UninspectedPart[], state: ScanState, tally: AddressTally): void {
  const result = readSpreadsheetText(bytes, sheet, state.budget);
  if (!result.ok && result.why !== 'bound') return void uninspected.push({ ...place, why: result.why });
  if (!result.ok) state.stop(result.bound);
  const part = tally.part(place, 'spreadsheet');
  // One text, so the time bound is checked in slices of it rather than never over a million short cells.
  scanText(result.texts.join('\n'), state, part.add);
  part.done();
}

/** IMAP section order: "1" < "1.2" < "2" < "10". */
function comparePlaces(a: PartPlace, b: PartPlace): number {
  const x = a.part.split('.');
  const y = b.part.split('.');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = Number(x[i]) - Number(y[i]);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
