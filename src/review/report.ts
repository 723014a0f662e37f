import type { MessageStore } from '../store/message-store.js';
import type { MessageRecord } from '../store/record.js';
import { campaignKey } from './campaigns.js';
import { countVerdict, emptyVerdictCounts, recordsSince, type VerdictCounts } from './record-scan.js';

// The rehearsal report (issue 11 item 4, `GET /api/report`, `mail-guard report`):
// per campaign, what the policy did or would have done to each message and why.
// In rehearsal mode every message is captured with its verdict, so the report
// is the whole run; in live mode the store keeps only what it held (and copies
// the upstream refused), so it is what mail-guard kept, not what it sent.

/** Records one report reads at most (newest first); older ones are left out and the report says truncated. */
export const REPORT_MAX_RECORDS = 50_000;
/** Distinct reasons listed per campaign, most frequent first; reasonsOmitted says how many more distinct ones there were. */
const MAX_REASONS = 20;

export interface ReportReason {
  readonly action: string;
  readonly reason: string;
  readonly count: number;
}

export interface ReportCampaign {
  /** The same key as GET /api/campaigns. */
  readonly key: string;
  readonly sender: string;
  readonly subject: string | null;
  /** Messages (records that are not refused copies). */
  readonly messages: number;
  /** Messages per verdict action: pass, monitor, bcc, split, quarantine (held), reject; "none" for a record without a verdict. */
  readonly verdicts: VerdictCounts;
  /** Why: each distinct (action, reason) with how many messages got it, most frequent first. */
  readonly reasons: readonly ReportReason[];
  readonly reasonsOmitted: number;
  /** Copies the upstream refused after the mailer had its 250 (status failed), not counted as messages. */
  readonly failedCopies: number;
  readonly firstReceivedAt: string;
  readonly lastReceivedAt: string;
}

export interface Report {
  readonly generatedAt: string;
  /** Records received at or after this (ISO), or null for everything the store holds. */
  readonly since: string | null;
  readonly mode: 'rehearsal' | 'live';
  /**
   * True when the counts are every message received (since `since`): rehearsal
   * mode and not truncated. Live mode keeps only held mail and refused copies,
   * so what passed, was split or rejected is not in the store. Records removed
   * by retention (store.retentionDays) are never counted.
   */
  readonly complete: boolean;
  readonly truncated: boolean;
  /** Records read. */
  readonly scanned: number;
  readonly totals: { readonly messages: number; readonly verdicts: VerdictCounts; readonly failedCopies: number };
  /** Newest activity first. */
  readonly campaigns: readonly ReportCampaign[];
}

export interface ReportOptions {
  readonly rehearsal: boolean;
  readonly since?: Date | undefined;
  readonly now?: Date;
  readonly maxRecords?: number;
}

interface Group {
  readonly sender: string;
  readonly subject: string | null;
  messages: number;
  failedCopies: number;
  readonly verdicts: VerdictCounts;
  readonly reasons: Map<string, ReportReason>;
  first: MessageRecord;
  last: MessageRecord;
}

export async function buildReport(store: MessageStore, options: ReportOptions): Promise<Report> {
  const now = options.now ?? new Date();
  const groups = new Map<string, Group>();
  const totals = { messages: 0, verdicts: emptyVerdictCounts(), failedCopies: 0 };

  const scan = recordsSince(store, options.since?.getTime() ?? -Infinity, options.maxRecords ?? REPORT_MAX_RECORDS);
  let step = await scan.next();
  for (; !step.done; step = await scan.next()) {
    const record = step.value;
    const key = campaignKey(record);
    let group = groups.get(key);
    if (!group) {
      group = {
        sender: record.envelope.mailFrom,
        subject: record.subject,
        messages: 0,
        failedCopies: 0,
        verdicts: emptyVerdictCounts(),
        reasons: new Map(),
        first: record,
        last: record,
      };
      groups.set(key, group);
    }
    // Newest first: the first one seen is the last received.
    group.first = record;
    if (!countVerdict(group.verdicts, record)) {
      group.failedCopies++;
      totals.failedCopies++;
      continue;
    }
    countVerdict(totals.verdicts, record);
    group.messages++;
    totals.messages++;
    const action = record.verdict?.action ?? 'none';
    const reason = record.verdict?.reason ?? 'no verdict recorded';
    const id = JSON.stringify([action, reason]);
    const seen = group.reasons.get(id);
    group.reasons.set(id, { action, reason, count: (seen?.count ?? 0) + 1 });
  }
  const { scanned, truncated } = step.value;

  const campaigns = [...groups].map(([key, g]): ReportCampaign => {
    const reasons = [...g.reasons.values()].sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
    return {
      key,
      sender: g.sender,
      subject: g.subject,
      messages: g.messages,
      verdicts: g.verdicts,
      reasons: reasons.slice(0, MAX_REASONS),
      reasonsOmitted: Math.max(0, reasons.length - MAX_REASONS),
      failedCopies: g.failedCopies,
      firstReceivedAt: g.first.receivedAt,
      lastReceivedAt: g.last.receivedAt,
    };
  });
  return {
    generatedAt: now.toISOString(),
    since: options.since?.toISOString() ?? null,
    mode: options.rehearsal ? 'rehearsal' : 'live',
    complete: options.rehearsal && !truncated,
    truncated,
    scanned,
    totals,
    campaigns,
  };
}
