import type { Relay } from '../actions/relay.js';
import type { ExpiredClaim } from '../store/message-store.js';
import { StoreConflictError } from '../store/message-store.js';
import { historyEntry, type MessageRecord } from '../store/record.js';
import { releaseRecord, type ReleaseDeps } from './release-record.js';
import type { ReleaseForm } from './lifecycle.js';
import { keepRefusedDelayed, reportRefused, type ReportDeps } from './delayed-refusals.js';

// The delay window (policy.delaySeconds): mail that would leave waits in the
// store as `delayed` until its releaseAt, then this scheduler sends it as its
// verdict says, through the same release path a person uses (release-record.ts:
// the claim makes it at most once across every instance on one store, and each
// bcc or split copy is checked again as it leaves). It never takes a record
// somebody else claimed: a claim whose lease expired is logged once and left
// for an operator (POST /api/messages/:id/retry-claim), because its holder may
// have sent it just before it died.

export interface SchedulerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** How a delayed message's departure ended, for the log line and mailguard_delayed_departures_total{result}. */
export const DEPARTURE_RESULTS = ['released', 'retry', 'failed', 'held'] as const;
export type DepartureResult = (typeof DEPARTURE_RESULTS)[number];

export interface DelaySchedulerDeps extends ReleaseDeps, ReportDeps {
  readonly relay: Relay;
  readonly logger: SchedulerLogger;
  /** The clock (ms); injectable so a test decides what "now" is. */
  readonly now?: () => number;
  /** Between looks at the store for due mail (default 500 ms: a message leaves at most this late). */
  readonly pollMs?: number;
  /** Between looks for expired claims (default 5 s; they need a person, not speed). */
  readonly expiredCheckMs?: number;
  /** Backoff after a temporary failure: first wait, doubling up to max (default 5 s … 5 min). */
  readonly retry?: { readonly firstMs: number; readonly maxMs: number };
  readonly onDeparture?: (result: DepartureResult) => void;
  /** Once per expired claim newly seen. */
  readonly onExpiredClaim?: (claim: ExpiredClaim) => void;
}

export interface DelayScheduler {
  /** No new claims from now on; resolves once the departure under way finished. */
  stop(): Promise<void>;
}

/** Records looked at per pass; more wait for the next pass (0.5 s later). */
const BATCH = 50;

/** The wait before attempt `attempt + 1` after `attempt` temporary failures: doubling, bounded. */
export function retryDelayMs(attempt: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.max(0, attempt - 1));
}

/** How a verdict lets the message leave: as received (pass, monitor), bcc or split; null for anything else. */
export function formForVerdict(action: string | undefined): ReleaseForm | null {
  switch (action) {
    case 'pass':
    case 'monitor':
      return 'original';
    case 'bcc':
      return 'bcc';
    case 'split':
      return 'split';
    default:
      return null;
  }
}

export function startDelayScheduler(deps: DelaySchedulerDeps): DelayScheduler {
  const now = deps.now ?? Date.now;
  const pollMs = deps.pollMs ?? 500;
  const expiredCheckMs = deps.expiredCheckMs ?? 5000;
  const { firstMs, maxMs } = deps.retry ?? { firstMs: 5000, maxMs: 300_000 };
  const { store, logger } = deps;
  const backoff = new Map<string, { attempts: number; notBefore: number }>();
  const seenExpired = new Set<string>();
  let nextExpiredCheck = 0;
  let stopping = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();

  const departed = (record: MessageRecord, result: DepartureResult | 'unrecorded', extra: object = {}): void => {
    // One line per departure: id, verdict action, outcome. No address: the record has them.
    const line = { event: 'delayed_departure', id: record.id, action: record.verdict?.action ?? null, outcome: result, ...extra };
    if (result === 'released') logger.info(line, 'delayed message left');
    else logger.warn(line, `delayed message did not leave: ${result}`);
    if (result !== 'unrecorded') deps.onDeparture?.(result);
  };

  const toStatus = async (record: MessageRecord, to: 'held' | 'failed', note: string, upstreamReply?: string): Promise<boolean> => {
    try {
      await store.transition(record.id, { from: ['delayed'], to, entry: historyEntry('mail-guard', to, note, upstreamReply) });
      return true;
    } catch (err) {
      // Discarded or taken by another instance meanwhile: theirs to finish.
      if (err instanceof StoreConflictError) return false;
      throw err;
    }
  };

  const depart = async (record: MessageRecord): Promise<void> => {
    const form = formForVerdict(record.verdict?.action);
    if (form === null) {
      if (await toStatus(record, 'held', `held: a delayed message with verdict ${record.verdict?.action ?? 'none'} cannot leave by itself`)) {
        departed(record, 'held', { why: 'verdict' });
      }
      return;
    }
    const result = await releaseRecord(deps, record.id, form, 'mail-guard', ['delayed'], 'delay window over');
    switch (result.kind) {
      case 'released': {
        backoff.delete(record.id);
        const refused = result.refused.length ? await keepRefusedDelayed(deps, record, result.refused, logger) : null;
        departed(record, 'released', refused ? { refused: result.refused.length, kept: refused.kept, report: refused.report } : {});
        return;
      }
      case 'not-found':
        return;
      case 'conflict':
        // A copy that would expose someone (the rules changed since it was received): a person decides.
        if (result.unsafe && (await toStatus(record, 'held', `held instead of leaving: ${result.message}`))) departed(record, 'held', { why: 'unsafe-copy' });
        return;
      case 'upstream-failed': {
        if (result.permanent && result.releasable) {
          const first = result.refused[0];
          const note = `the upstream refused it for good when it left after its delay${first ? `: ${first.code} ${first.response}` : ''}`;
          if (await toStatus(record, 'failed', note, result.upstreamReply)) {
            backoff.delete(record.id);
            const report = await reportRefused(deps, record, result.refused);
            departed(record, 'failed', { refused: result.refused.length, report });
          }
          return;
        }
        const attempts = (backoff.get(record.id)?.attempts ?? 0) + 1;
        const wait = retryDelayMs(attempts, firstMs, maxMs);
        backoff.set(record.id, { attempts, notBefore: now() + wait });
        departed(record, 'retry', {
          attempt: attempts,
          nextAttemptAt: new Date(now() + wait).toISOString(),
          possiblyDelivered: result.possiblyDelivered,
          // False: the claim could not be given back; it will show as an expired claim.
          releasable: result.releasable,
        });
        return;
      }
      case 'unrecorded':
        // Accepted upstream, not recorded: the claim stays, so it cannot leave twice; its lease expiring makes it visible.
        departed(record, 'unrecorded', { why: result.message });
        return;
    }
  };

  const checkExpired = async (at: number): Promise<void> => {
    const claims = await store.expiredClaims(new Date(at), 1000);
    const current = new Set<string>();
    for (const claim of claims) {
      const key = `${claim.record.id} ${claim.claim.at}`;
      current.add(key);
      if (seenExpired.has(key)) continue;
      seenExpired.add(key);
      logger.warn(
        {
          event: 'claim_expired',
          id: claim.record.id,
          status: claim.record.status,
          holder: { host: claim.claim.host, pid: claim.claim.pid },
          since: claim.claim.at,
          leaseUntil: claim.claim.leaseUntil,
        },
        'a release claim expired: its holder stopped before finishing; not re-sent by itself (GET /api/claims/expired, retry-claim once you know it did not leave)',
      );
      deps.onExpiredClaim?.(claim);
    }
    for (const key of seenExpired) if (!current.has(key)) seenExpired.delete(key);
  };

  const pass = async (): Promise<void> => {
    const at = now();
    if (at >= nextExpiredCheck) {
      nextExpiredCheck = at + expiredCheckMs;
      await checkExpired(at);
    }
    // Records waiting out a backoff sit at the head of the due list: ask for enough to get past them.
    const due = await store.dueForRelease(new Date(at), Math.min(1000, BATCH + backoff.size));
    for (const record of due) {
      if (stopping) return;
      const wait = backoff.get(record.id);
      if (wait && wait.notBefore > now()) continue;
      try {
        await depart(record);
      } catch (err) {
        // The store went away mid-way (the claim, if taken, is given back or expires): try again later.
        const attempts = (wait?.attempts ?? 0) + 1;
        backoff.set(record.id, { attempts, notBefore: now() + retryDelayMs(attempts, firstMs, maxMs) });
        logger.warn({ event: 'delayed_departure', id: record.id, outcome: 'retry', attempt: attempts, err }, 'delayed message did not leave: retry');
      }
    }
    for (const id of backoff.keys()) if (!due.some((r) => r.id === id) && (backoff.get(id)?.notBefore ?? 0) <= now()) backoff.delete(id);
  };

  const loop = (): void => {
    if (stopping) return;
    running = pass()
      .catch((err: unknown) => logger.warn({ event: 'delay_scheduler', err }, 'delay scheduler: could not read the store; trying again'))
      .finally(() => {
        if (!stopping) timer = setTimeout(loop, pollMs);
      });
  };
  loop();

  return {
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
