// Turns the distinct visible addresses of one message into the ExposureReport
// the policy compares against: who can see which external address.

import type { CountedHeaderTable } from './counted-headers.js';
import { normaliseAddress } from './domain.js';
import type { ExposureReport, VisibleAddress } from './exposure-report.js';

export interface Envelope {
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
}

/**
 * One distinct (normalised) visible address, gathered while the headers are
 * read. Bit i of headerBits is header i of the table, so header lists come out
 * in one stable order whatever order the message uses.
 */
export interface Seen {
  readonly address: string;
  readonly domain: string;
  readonly internal: boolean;
  headerBits: number;
  foundIn: 'address' | 'text';
}

function headersOf(table: CountedHeaderTable, bits: number): string[] {
  const names: string[] = [];
  for (let i = 0; bits >>> i !== 0; i++) if ((bits & (1 << i)) !== 0) names.push(table.headers[i]!.name);
  return names;
}

/** The envelope recipients as analysis compares them: normalised, angle brackets off. */
export function normalisedRecipients(rcptTo: readonly string[]): Set<string> {
  return new Set(rcptTo.map((r) => normaliseAddress(r.replace(/^<|>$/g, ''))?.address ?? r.toLowerCase()));
}

/** `addressesSeen` is how much of the address budget the headers used. */
export function buildReport(
  table: CountedHeaderTable,
  seen: ReadonlyMap<string, Seen>,
  envelope: Envelope,
  freemail: ReadonlySet<string>,
  truncated: boolean,
  addressesSeen: number,
): ExposureReport {
  // Recipients are compared in normalised form; percent hacks, bang paths and
  // source routes are just strings here, only ever used to subtract a copy's
  // own recipient, never to decide what is internal.
  const recipients = normalisedRecipients(envelope.rcptTo);
  // With one recipient, that person seeing their own address is no exposure.
  // With none (an offline check without an envelope) nobody can be excluded.
  const self = recipients.size === 1 ? [...recipients][0] : undefined;

  const visible: VisibleAddress[] = [];
  const exposedExternal: string[] = [];
  const exposedKeys = new Set<string>();
  let visibleExternalCount = 0;
  let exposingBits = 0;
  for (const s of seen.values()) {
    visible.push({ address: s.address, domain: s.domain, internal: s.internal, headers: headersOf(table, s.headerBits), foundIn: s.foundIn });
    if (s.internal) continue;
    visibleExternalCount++;
    if (s.address === self) continue;
    exposedExternal.push(s.address);
    exposedKeys.add(freemail.has(s.domain) ? s.address : s.domain);
    exposingBits |= s.headerBits;
  }
  return {
    visible,
    visibleExternalCount,
    exposedExternal,
    exposedExternalDomainCount: exposedKeys.size,
    exposingHeaders: headersOf(table, exposingBits),
    truncated,
    addressesSeen,
  };
}
