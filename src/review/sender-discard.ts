import type { MessageStore } from '../store/message-store.js';
import type { MessageRecord } from '../store/record.js';
import { CAMPAIGN_STATUSES } from './lifecycle.js';

// "Stop everything from this sender": when a bulk send goes wrong under
// several subjects at once, a campaign (sender + subject) is too narrow. These
// are the records a discard by sender covers: every one still waiting (held,
// approved, delayed, captured: the campaign statuses) whose envelope sender is
// this address, compared case-insensitively. The admin layer discards each
// through review-actions.ts discardMessage, so history, audit and events are
// exactly those of a single discard.

const PAGE = 500;
/** Bounds one run: a larger backlog is reported as truncated (run it again). */
const MAX_RECORDS = 50_000;

export interface SenderRecords {
  /** Oldest first within each status, so what leaves soonest is stopped first. */
  readonly records: readonly MessageRecord[];
  readonly truncated: boolean;
}

export async function senderRecords(store: MessageStore, sender: string): Promise<SenderRecords> {
  const records: MessageRecord[] = [];
  const seen = new Set<string>();
  // Delayed first: they leave by themselves, the others wait for a person.
  const statuses = ['delayed', ...CAMPAIGN_STATUSES.filter((s) => s !== 'delayed')] as const;
  for (const status of statuses) {
    const ofStatus: MessageRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ status, sender, limit: PAGE, cursor, maxScan: MAX_RECORDS });
      for (const record of page.records) {
        if (seen.has(record.id)) continue;
        seen.add(record.id);
        ofStatus.push(record);
        if (records.length + ofStatus.length >= MAX_RECORDS) {
          records.push(...ofStatus.reverse());
          return { records, truncated: true };
        }
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    records.push(...ofStatus.reverse());
  }
  return { records, truncated: false };
}
