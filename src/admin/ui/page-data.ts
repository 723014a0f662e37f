import { campaignRecords, listCampaigns, type CampaignSummary } from '../../review/campaigns.js';
import { buildOverview, type Overview } from '../../review/overview.js';
import { buildReport, type Report } from '../../review/report.js';
import type { MessageStore } from '../../store/message-store.js';
import { RECORD_STATUSES, type MessageRecord } from '../../store/record.js';
import type { ListParams } from '../request-input.js';

// Every read the console's pages make, behind one small module. The numbers
// come from review/, as the JSON API's do (GET /api/overview, /api/report,
// /api/messages, /api/audit), so the console and the API cannot disagree.

/** GET /api/overview's answer: counts by status and by verdict, the oldest held message, the latest held campaigns. */
export type OverviewData = Overview;

export interface CampaignDetail {
  readonly summary: CampaignSummary;
  /** Records still waiting, oldest first (as sent). Who approved them: summary.approvers. */
  readonly records: readonly MessageRecord[];
}

/** The messages list: the same checked query as GET /api/messages (request-input.ts listParams). */
export type MessageQuery = ListParams;

export interface MessagesPage {
  readonly records: readonly MessageRecord[];
  readonly nextCursor: string | null;
  /** Records the store read for this page; with fewer than `limit` records and a cursor, the page ended at the scan bound. */
  readonly scanned: number;
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
  return { summary, records: await campaignRecords(store, key) };
}

export async function messagesData(store: MessageStore, query: MessageQuery): Promise<MessagesPage> {
  return store.list(query);
}

export async function messageData(store: MessageStore, id: string): Promise<{ record: MessageRecord; raw: Buffer } | null> {
  const [record, raw] = await Promise.all([store.get(id), store.raw(id)]);
  return record && raw ? { record, raw } : null;
}

/** GET /api/report's answer: per campaign, counts per verdict and the reasons; complete only in rehearsal mode. */
export async function reportData(store: MessageStore, rehearsal: boolean, since: Date | undefined): Promise<Report> {
  return buildReport(store, { rehearsal, since });
}

export { RECORD_STATUSES };
