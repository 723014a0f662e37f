import { campaignRecords, listCampaigns, type CampaignSummary } from '../../review/campaigns.js';
import { buildOverview, type Overview } from '../../review/overview.js';
import { buildReport, type Report } from '../../review/report.js';
import { AuditLogCorruptError, verifyChain, type AuditEntry, type ChainCheck } from '../../store/audit-chain.js';
import type { AuditLog, MessageStore } from '../../store/message-store.js';
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

// The audit page: a page of the log, newest first, and whether those entries are intact.
export const AUDIT_PAGE_SIZE = 50;

export interface AuditPage {
  /** Entries in the log. */
  readonly total: number;
  /** Newest first. */
  readonly entries: readonly AuditEntry[];
  /** Position (1-based seq in an intact log) of the newest and the oldest entry shown; 0 when none. */
  readonly newest: number;
  readonly oldest: number;
  /**
   * verifyChain over the entries shown and their link to the entry before
   * them. Not the whole log: that is `mail-guard audit verify`.
   */
  readonly check: ChainCheck | null;
  /** A stored entry is not a well-formed one (the store refused to read it): its position. */
  readonly corruptAt: number | null;
}

/**
 * How many entries the log has, without a count in the AuditLog interface:
 * doubling then halving probes of one entry each, about 2·log2(n) reads.
 */
async function auditLength(audit: Pick<AuditLog, 'read'>): Promise<number> {
  const exists = async (n: number) => n === 0 || (await audit.read({ after: n - 1, limit: 1 })).length > 0;
  let low = 0;
  let high = 1;
  while (await exists(high)) {
    low = high;
    high *= 2;
  }
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (await exists(mid)) low = mid;
    else high = mid;
  }
  return low;
}

/** The page that ends at position `before` (default: the newest entry). */
export async function auditPage(audit: Pick<AuditLog, 'read'>, before: number | undefined): Promise<AuditPage> {
  const total = await auditLength(audit);
  const end = Math.min(before ?? total, total);
  const start = Math.max(0, end - AUDIT_PAGE_SIZE);
  if (end === 0) return { total, entries: [], newest: 0, oldest: 0, check: null, corruptAt: null };
  try {
    const [previous, entries] = await Promise.all([
      start > 0 ? audit.read({ after: start - 1, limit: 1 }) : Promise.resolve([]),
      audit.read({ after: start, limit: end - start }),
    ]);
    const link = previous[0] ? { seq: start + 1, prev: previous[0].hash } : null;
    const check = verifyChain(entries, { start: link });
    return { total, entries: [...entries].reverse(), newest: end, oldest: start + 1, check, corruptAt: null };
  } catch (err) {
    if (err instanceof AuditLogCorruptError) return { total, entries: [], newest: end, oldest: start + 1, check: null, corruptAt: err.position };
    throw err;
  }
}

export { RECORD_STATUSES };
