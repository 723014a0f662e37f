import { campaignRecords, listCampaigns, type CampaignSummary } from '../../review/campaigns.js';
import { approvedBy } from '../../review/lifecycle.js';
import { buildOverview, type Overview } from '../../review/overview.js';
import type { MessageStore } from '../../store/message-store.js';
import { RECORD_STATUSES, type MessageRecord, type RecordStatus } from '../../store/record.js';

// Every read the console's pages make, behind one small module. The numbers
// come from review/, as the JSON API's do (GET /api/overview, /api/report,
// /api/messages, /api/audit), so the console and the API cannot disagree.

/** GET /api/overview's answer: counts by status and by verdict, the oldest held message, the latest held campaigns. */
export type OverviewData = Overview;

export interface CampaignDetail {
  readonly summary: CampaignSummary;
  /** Records still waiting, oldest first (as sent). */
  readonly records: readonly MessageRecord[];
  /** Who approved the approved ones: four-eyes shown before anyone presses release. */
  readonly approvers: readonly string[];
}

/** The messages list: status filters today; the other fields wait for the API filters (GET /api/messages?action=&rule=…). */
export interface MessageQuery {
  readonly status: RecordStatus | undefined;
  readonly cursor: string | undefined;
  readonly limit: number;
}

/** `rehearsal`: no upstream (deps.relay === null), so every message is in the store and the verdict counts are complete. */
export async function overviewData(store: MessageStore, rehearsal: boolean): Promise<OverviewData> {
  return buildOverview(store, { rehearsal });
}

export async function campaignsData(store: MessageStore): Promise<{ campaigns: readonly CampaignSummary[]; truncated: boolean }> {
  return listCampaigns(store);
}

export async function campaignData(store: MessageStore, key: string): Promise<CampaignDetail | null> {
  const { campaigns } = await listCampaigns(store);
  const summary = campaigns.find((c) => c.key === key);
  if (!summary) return null;
  const records = await campaignRecords(store, key);
  const approvers = [...new Set(records.filter((r) => r.status === 'approved').map((r) => approvedBy(r) ?? '?'))].sort();
  return { summary, records, approvers };
}

export async function messagesData(store: MessageStore, query: MessageQuery): Promise<{ records: readonly MessageRecord[]; nextCursor: string | null }> {
  return store.list({ status: query.status, limit: query.limit, cursor: query.cursor });
}

export async function messageData(store: MessageStore, id: string): Promise<{ record: MessageRecord; raw: Buffer } | null> {
  const [record, raw] = await Promise.all([store.get(id), store.raw(id)]);
  return record && raw ? { record, raw } : null;
}

export { RECORD_STATUSES };
