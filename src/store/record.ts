/** DESIGN.md "Store records": what the store keeps about one message. */

export const RECORD_STATUSES = ['held', 'approved', 'released', 'discarded', 'captured', 'failed', 'delayed'] as const;
export type RecordStatus = (typeof RECORD_STATUSES)[number];

export interface HistoryEntry {
  readonly at: string;
  /** Token name of a person, or "mail-guard" for the proxy itself. */
  readonly actor: string;
  /** held, captured, failed, approve, release, release-failed, discard, view-raw … */
  readonly action: string;
  readonly note: string | null;
  /** For releases: the upstream's reply. */
  readonly upstreamReply?: string;
}

/** How a record (and the log) shows an address: as is, or masked unless log.showAddresses. */
export type AddressMasker = (address: string) => string;

/** The one way a history entry is made, by the proxy ("mail-guard") or a person (token name). */
export function historyEntry(actor: string, action: string, note: string | null, upstreamReply?: string, at: Date = new Date()): HistoryEntry {
  const base = { at: at.toISOString(), actor, action, note };
  return upstreamReply === undefined ? base : { ...base, upstreamReply };
}

/** One part where the content scan found external addresses (DESIGN.md "Content beyond the headers"). */
export interface RecordContentLocation {
  /** IMAP section number ("2", "2.1"). */
  readonly part: string;
  readonly contentType: string;
  /** Any address inside the filename masked as the addresses are. */
  readonly filename: string | null;
  /** What the part was read as: forwarded-headers, body-text, body-html, text-attachment, spreadsheet. */
  readonly carrier: string;
  readonly externalCount: number;
  /** The first addresses found there; masked unless log.showAddresses. */
  readonly addresses: readonly string[];
}

/** What the content scan found; absent from records of messages it did not scan (and from records older than it). */
export interface RecordContent {
  /** Distinct external addresses over all places. */
  readonly externalCount: number;
  readonly locations: readonly RecordContentLocation[];
  /** Parts not read: archive, encrypted, unreadable. */
  readonly uninspected: readonly { readonly part: string; readonly contentType: string; readonly filename: string | null; readonly why: string }[];
  /** The bound that stopped the scan (the counts are then lower bounds), or null. */
  readonly bound: { readonly kind: string; readonly limit: number } | null;
}

export interface RecordAnalysis {
  readonly visibleCount: number;
  readonly visibleExternalCount: number;
  readonly exposedExternalCount: number;
  readonly exposedExternalDomainCount: number;
  readonly exposingHeaders: readonly string[];
  readonly truncated: boolean;
  /** Masked unless log.showAddresses. */
  readonly exposedExternal: readonly string[];
  readonly content?: RecordContent;
}

/** The transaction's ESMTP parameters as JSON (actions/stored-esmtp.ts converts). */
export interface RecordEsmtp {
  readonly eightBitMime: boolean;
  readonly smtputf8: boolean;
  readonly requireTLS: boolean;
  readonly ret?: 'FULL' | 'HDRS';
  readonly envid?: string;
  /** [recipient as given in RCPT TO, its DSN parameters]. */
  readonly recipients: readonly (readonly [string, { readonly notify?: readonly string[]; readonly orcpt?: string }])[];
}

export interface MessageRecord {
  /** ULID: sorts by time. */
  readonly id: string;
  readonly receivedAt: string;
  readonly status: RecordStatus;
  readonly envelope: { readonly mailFrom: string; readonly rcptTo: readonly string[] };
  readonly client: { readonly address: string; readonly authUser: string | null };
  readonly from: string | null;
  readonly subject: string | null;
  readonly messageId: string | null;
  readonly size: number;
  readonly sha256: string;
  readonly analysis: RecordAnalysis | null;
  readonly verdict: { readonly rule: string; readonly action: string; readonly violation: boolean; readonly reason: string } | null;
  /** For `delayed` records: when it leaves (ISO time), as its verdict says. */
  readonly releaseAt?: string;
  /** The ESMTP parameters it came with, so what leaves later carries them (DESIGN.md "Envelope fidelity"). */
  readonly esmtp?: RecordEsmtp;
  /** For `failed` copies of a split: who refused it and how. */
  readonly failure?: { readonly recipient: string; readonly code: number; readonly response: string };
  readonly history: readonly HistoryEntry[];
}
