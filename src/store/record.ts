/** DESIGN.md "Store records": what the store keeps about one message. */

export const RECORD_STATUSES = ['held', 'approved', 'released', 'discarded', 'captured', 'failed'] as const;
export type RecordStatus = (typeof RECORD_STATUSES)[number];

/**
 * Statuses that still wait for a person; retention never removes these. A
 * `failed` copy was accepted with 250 and then refused by the upstream: until
 * someone approves and resends it or discards it, it is the only copy there is.
 */
export const UNDECIDED: ReadonlySet<RecordStatus> = new Set(['held', 'approved', 'failed']);

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

export interface RecordAnalysis {
  readonly visibleCount: number;
  readonly visibleExternalCount: number;
  readonly exposedExternalCount: number;
  readonly exposedExternalDomainCount: number;
  readonly exposingHeaders: readonly string[];
  readonly truncated: boolean;
  /** Masked unless log.showAddresses. */
  readonly exposedExternal: readonly string[];
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
  /** For `failed` copies of a split: who refused it and how. */
  readonly failure?: { readonly recipient: string; readonly code: number; readonly response: string };
  readonly history: readonly HistoryEntry[];
}
