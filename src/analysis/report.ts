// Turns the distinct visible addresses of one message into the ExposureReport
// the policy compares against: who can see which external address.

import type { Envelope } from './analyse.js'; // type only: no runtime cycle
import { normaliseAddress } from './domain.js';
import type { ExposureReport, VisibleAddress, VisibleHeaderName } from './exposure-report.js';
import { VISIBLE_ADDRESS_HEADERS } from './exposure-report.js';

const CANONICAL: Readonly<Record<VisibleHeaderName, string>> = {
  to: 'To', cc: 'Cc', bcc: 'Bcc', 'resent-to': 'Resent-To', 'resent-cc': 'Resent-Cc',
};
// Bit per visible header, in VISIBLE_ADDRESS_HEADERS order, so header lists
// come out in one stable order whatever order the message uses.
export const HEADER_BIT = new Map<string, number>(VISIBLE_ADDRESS_HEADERS.map((h, i) => [h, 1 << i]));

/** One distinct (normalised) visible address, gathered while the headers are read. */
export interface Seen {
  readonly address: string;
  readonly domain: string;
  readonly internal: boolean;
  headerBits: number;
  foundIn: 'address' | 'text';
}

function headersOf(bits: number): VisibleHeaderName[] {
  return VISIBLE_ADDRESS_HEADERS.filter((_, i) => (bits & (1 << i)) !== 0);
}

/** `addressesSeen` is how much of the address budget the headers used. */
export function buildReport(
  seen: ReadonlyMap<string, Seen>,
  envelope: Envelope,
  freemail: ReadonlySet<string>,
  truncated: boolean,
  addressesSeen: number,
): ExposureReport {
  // Recipients are compared in normalised form; percent hacks, bang paths and
  // source routes are just strings here, only ever used to subtract a copy's
  // own recipient, never to decide what is internal.
  const recipients = new Set(envelope.rcptTo.map((r) => normaliseAddress(r.replace(/^<|>$/g, ''))?.address ?? r.toLowerCase()));
  // With one recipient, that person seeing their own address is no exposure.
  // With none (an offline check without an envelope) nobody can be excluded.
  const self = recipients.size === 1 ? [...recipients][0] : undefined;

  const visible: VisibleAddress[] = [];
  const exposedExternal: string[] = [];
  const exposedKeys = new Set<string>();
  let visibleExternalCount = 0;
  let exposingBits = 0;
  for (const s of seen.values()) {
    visible.push({ address: s.address, domain: s.domain, internal: s.internal, headers: headersOf(s.headerBits), foundIn: s.foundIn });
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
    exposingHeaders: headersOf(exposingBits).map((h) => CANONICAL[h]),
    truncated,
    addressesSeen,
  };
}
