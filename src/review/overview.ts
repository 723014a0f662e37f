import type { BreakerRecord, MessageStore } from '../store/message-store.js';
import type { RecordStatus } from '../store/record.js';
import { listCampaigns, type CampaignSummary } from './campaigns.js';
import { countVerdict, emptyVerdictCounts, recordsSince, utcDayStart, type VerdictCounts } from './record-scan.js';

// The first page a person on duty sees (issue 11 item 1): what is waiting, what
// the policy did lately, what has waited longest. Read-only; the UI polls it.

/** Records one overview reads for its verdict counts: it is polled, so it must stay cheap. */
export const OVERVIEW_MAX_RECORDS = 10_000;
const LATEST_CAMPAIGNS = 5;

export interface VerdictWindow {
  /** Start of the window: 00:00 UTC of the first day counted. */
  readonly since: string;
  /** Messages counted (failed copies are not messages of their own and are left out). */
  readonly messages: number;
  readonly verdicts: VerdictCounts;
}

export interface Overview {
  readonly generatedAt: string;
  /** Rehearsal mode (no upstream): every message is in the store, so the verdict counts are every message's. */
  readonly rehearsal: boolean;
  /** Records in the store now, by status. */
  readonly statuses: Record<RecordStatus, number>;
  readonly verdicts: {
    /** Today, UTC. */
    readonly today: VerdictWindow;
    /** Today and the six UTC days before it. */
    readonly last7Days: VerdictWindow;
    /**
     * True only in rehearsal mode with nothing cut off: in live mode the store
     * knows only what it kept (held, failed…), not what passed or was rejected.
     */
    readonly complete: boolean;
    /** More than OVERVIEW_MAX_RECORDS records in the window: the counts stop there. */
    readonly truncated: boolean;
  };
  readonly oldestHeld: {
    readonly id: string;
    readonly receivedAt: string;
    readonly ageSeconds: number;
    readonly sender: string;
    readonly subject: string | null;
  } | null;
  /** Campaigns with held mail, newest first; counts are of their held records only. */
  readonly latestHeldCampaigns: readonly CampaignSummary[];
  /** Senders paused by policy.breaker, oldest first (empty when none, or no breaker configured). */
  readonly openBreakers: readonly BreakerRecord[];
}

export interface OverviewOptions {
  readonly rehearsal: boolean;
  readonly now?: Date;
  readonly maxRecords?: number;
}

export async function buildOverview(store: MessageStore, options: OverviewOptions): Promise<Overview> {
  const now = options.now ?? new Date();
  const todayStart = utcDayStart(now);
  const weekStart = utcDayStart(now, 6);
  const [statuses, oldest, held, openBreakers] = await Promise.all([
    store.countByStatus(),
    store.oldest('held'),
    listCampaigns(store, { statuses: ['held'] }),
    store.breakers.list(),
  ]);

  const today = { messages: 0, verdicts: emptyVerdictCounts() };
  const week = { messages: 0, verdicts: emptyVerdictCounts() };
  const scan = recordsSince(store, weekStart.getTime(), options.maxRecords ?? OVERVIEW_MAX_RECORDS);
  let step = await scan.next();
  for (; !step.done; step = await scan.next()) {
    const record = step.value;
    if (countVerdict(week.verdicts, record)) week.messages++;
    if (Date.parse(record.receivedAt) >= todayStart.getTime() && countVerdict(today.verdicts, record)) today.messages++;
  }
  const { truncated } = step.value;

  return {
    generatedAt: now.toISOString(),
    rehearsal: options.rehearsal,
    statuses,
    verdicts: {
      today: { since: todayStart.toISOString(), ...today },
      last7Days: { since: weekStart.toISOString(), ...week },
      complete: options.rehearsal && !truncated,
      truncated,
    },
    oldestHeld: oldest && {
      id: oldest.id,
      receivedAt: oldest.receivedAt,
      ageSeconds: Math.max(0, Math.floor((now.getTime() - Date.parse(oldest.receivedAt)) / 1000)),
      sender: oldest.envelope.mailFrom,
      subject: oldest.subject,
    },
    latestHeldCampaigns: held.campaigns.slice(0, LATEST_CAMPAIGNS),
    openBreakers,
  };
}
