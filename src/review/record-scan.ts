import { ACTIONS } from '../config/schema.js';
import type { MessageStore } from '../store/message-store.js';
import type { MessageRecord } from '../store/record.js';

// What the overview and the rehearsal report share: reading the records
// received since a moment, newest first, within a bound, and counting them by
// the verdict the policy gave.

const PAGE = 500;

export interface ScanResult {
  /** Records read. */
  readonly scanned: number;
  /** The bound was reached before the records older than `since` (or the end): the counts miss the rest. */
  readonly truncated: boolean;
}

/**
 * Every record (any status) received at or after `sinceMs`, newest first,
 * reading at most `maxRecords`. Stores list by receipt time (ids are ULIDs of
 * it), so the scan stops at the first older record.
 */
export async function* recordsSince(store: MessageStore, sinceMs: number, maxRecords: number): AsyncGenerator<MessageRecord, ScanResult> {
  let scanned = 0;
  let cursor: string | undefined;
  do {
    const page = await store.list({ limit: Math.min(PAGE, maxRecords - scanned + 1), cursor });
    for (const record of page.records) {
      if (Date.parse(record.receivedAt) < sinceMs) return { scanned, truncated: false };
      if (scanned === maxRecords) return { scanned, truncated: true };
      scanned++;
      yield record;
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return { scanned, truncated: false };
}

/** The verdict actions, in the order the policy escalates, always present (0 when none). */
export type VerdictCounts = Record<string, number>;

export function emptyVerdictCounts(): VerdictCounts {
  return Object.fromEntries(ACTIONS.map((a) => [a, 0]));
}

/**
 * Counts a record under its verdict's action ("none" for a record kept without
 * one). Returns false, counting nothing, for a `failed` record: that is one
 * refused copy of a message already decided, not a message of its own.
 */
export function countVerdict(counts: VerdictCounts, record: MessageRecord): boolean {
  if (record.status === 'failed') return false;
  const action = record.verdict?.action ?? 'none';
  counts[action] = (counts[action] ?? 0) + 1;
  return true;
}

/** Start of the UTC day `now` falls in, minus `days` whole days. */
export function utcDayStart(now: Date, days = 0): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - days));
}
