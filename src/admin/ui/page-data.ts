import { campaignRecords, listCampaigns, type CampaignSummary } from '../../review/campaigns.js';
import { approvedBy } from '../../review/lifecycle.js';
import type { MessageStore } from '../../store/message-store.js';
import { RECORD_STATUSES, type MessageRecord, type RecordStatus } from '../../store/record.js';

// Every read the console's pages make, behind one small module: when the
// overview, report and filter endpoints land (issue 11), swapping them in is a
// change here, not in the pages.

export interface OverviewData {
  readonly counts: Readonly<Record<RecordStatus, number>>;
  readonly oldestHeld: Date | null;
  /** Campaigns with held or approved mail, newest first. */
  readonly latestCampaigns: readonly CampaignSummary[];
  readonly truncated: boolean;
}

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

const LATEST_CAMPAIGNS = 5;

export async function overviewData(store: MessageStore): Promise<OverviewData> {
  const [counts, oldestHeld, { campaigns, truncated }] = await Promise.all([store.countByStatus(), store.oldestReceivedAt('held'), listCampaigns(store)]);
  const waiting = campaigns.filter((c) => (c.statuses.held ?? 0) + (c.statuses.approved ?? 0) > 0);
  return { counts, oldestHeld, latestCampaigns: waiting.slice(0, LATEST_CAMPAIGNS), truncated };
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
