import { campaignKey } from '../actions/campaign-key.js';
import type { MessageStore } from '../store/message-store.js';
import type { MessageRecord, RecordStatus } from '../store/record.js';
import { approvedBy, CAMPAIGN_STATUSES } from './lifecycle.js';

// A campaign is what one bulk send left in the quarantine: the records that
// share an envelope sender and a subject (the seed incident was 832 of them).
// Grouping them lets a reviewer decide once instead of 832 times.

export { campaignKey };

/** Bounds one scan: a larger backlog is reported as truncated rather than read without end. */
const MAX_RECORDS_SCANNED = 50_000;
const PAGE = 500;

export interface CampaignSummary {
  /** Stable for the same sender and subject: sha256 of both, 24 hex characters. */
  readonly key: string;
  readonly sender: string;
  readonly subject: string | null;
  readonly count: number;
  readonly statuses: Partial<Record<RecordStatus, number>>;
  /** Records per verdict action (pass, monitor, bcc, split, quarantine, reject); "none" for a record without a verdict. */
  readonly verdicts: Readonly<Record<string, number>>;
  /** Who approved its approved records (four-eyes: that person cannot release them), most approvals first; empty when none are approved. */
  readonly approvers: readonly { readonly name: string; readonly count: number }[];
  readonly firstReceivedAt: string;
  readonly lastReceivedAt: string;
  /** The largest exposedExternalCount among its records. */
  readonly worstExposure: number;
  /** The newest record, to preview one message of the campaign. */
  readonly newestId: string;
}

/** Every undecided record (or of the statuses given), newest first per status, up to the scan bound. */
async function* undecidedRecords(store: MessageStore, statuses: readonly RecordStatus[] = CAMPAIGN_STATUSES): AsyncGenerator<MessageRecord, boolean> {
  let scanned = 0;
  // A record approved while the scan runs can show up under both statuses: once is enough.
  const seen = new Set<string>();
  for (const status of statuses) {
    let cursor: string | undefined;
    do {
      const page = await store.list({ status, limit: PAGE, cursor });
      for (const record of page.records) {
        if (++scanned > MAX_RECORDS_SCANNED) return true;
        if (seen.has(record.id)) continue;
        seen.add(record.id);
        yield record;
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }
  return false;
}

export interface CampaignListing {
  /** Newest activity first. */
  readonly campaigns: CampaignSummary[];
  /** More records than one scan reads: some campaigns or counts are missing. */
  readonly truncated: boolean;
}

/**
 * Held, approved and captured mail grouped by sender and subject. With
 * `statuses` only records of those statuses are read and counted (the
 * overview's latest held campaigns: ['held']); the keys stay the same.
 */
export async function listCampaigns(store: MessageStore, options: { readonly statuses?: readonly RecordStatus[] } = {}): Promise<CampaignListing> {
  const groups = new Map<string, { sender: string; subject: string | null; records: MessageRecord[] }>();
  const scan = undecidedRecords(store, options.statuses);
  let step = await scan.next();
  for (; !step.done; step = await scan.next()) {
    const record = step.value;
    const key = campaignKey(record);
    const group = groups.get(key) ?? { sender: record.envelope.mailFrom, subject: record.subject, records: [] };
    group.records.push(record);
    groups.set(key, group);
  }
  const campaigns = [...groups].map(([key, g]) => summarise(key, g.sender, g.subject, g.records));
  campaigns.sort((a, b) => (a.lastReceivedAt < b.lastReceivedAt ? 1 : a.lastReceivedAt > b.lastReceivedAt ? -1 : 0));
  return { campaigns, truncated: step.value };
}

/** The campaign's records at the moment of a bulk action, oldest first (the order they were sent in). */
export async function campaignRecords(store: MessageStore, key: string): Promise<MessageRecord[]> {
  const records: MessageRecord[] = [];
  for await (const record of undecidedRecords(store)) if (campaignKey(record) === key) records.push(record);
  return records.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function summarise(key: string, sender: string, subject: string | null, records: readonly MessageRecord[]): CampaignSummary {
  const statuses: Partial<Record<RecordStatus, number>> = {};
  const verdicts = new Map<string, number>();
  const approvers = new Map<string, number>();
  let first = records[0]!;
  let last = records[0]!;
  let worstExposure = 0;
  for (const r of records) {
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    const action = r.verdict?.action ?? 'none';
    verdicts.set(action, (verdicts.get(action) ?? 0) + 1);
    const approver = r.status === 'approved' ? approvedBy(r) : null;
    if (approver !== null) approvers.set(approver, (approvers.get(approver) ?? 0) + 1);
    if (r.receivedAt < first.receivedAt) first = r;
    if (r.receivedAt > last.receivedAt || (r.receivedAt === last.receivedAt && r.id > last.id)) last = r;
    worstExposure = Math.max(worstExposure, r.analysis?.exposedExternalCount ?? 0);
  }
  return {
    key,
    sender,
    subject,
    count: records.length,
    statuses,
    verdicts: Object.fromEntries(verdicts),
    approvers: [...approvers].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : 1)),
    firstReceivedAt: first.receivedAt,
    lastReceivedAt: last.receivedAt,
    worstExposure,
    newestId: last.id,
  };
}
