import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { OUTCOME_ACTIONS } from '../actions/process-message.js';
import type { MessageStore } from '../store/message-store.js';
import { UPSTREAM_ERROR_CLASSES } from '../upstream/upstream-error.js';
import { RECORD_STATUSES, type RecordStatus } from '../store/record.js';
import { NOTICE_RESULTS } from '../actions/sender-notifier.js';
import type { ReadinessReport } from './readiness.js';
import type { ContentReport } from '../analysis/content/content-report.js';
import { DEPARTURE_RESULTS } from '../review/delay-scheduler.js';

export const SESSION_RESULTS = ['accepted', 'denied', 'auth_failed'] as const;
/** The rewrites whose copies are checked before they leave. */
export const COPY_FORMS = ['bcc', 'split'] as const;
/** Who a notice went to: the envelope sender of held mail, or a webhook of the people on duty. */
export const NOTICE_KINDS = ['sender', 'webhook'] as const;
/** mailguard_config_reload_total{result} */
export const CONFIG_RELOAD_RESULTS = ['success', 'failure'] as const;
/** mailguard_content_scans_total{result}: the pre-scan ruled the message out, it was scanned, or a bound stopped the scan. */
export const CONTENT_SCAN_RESULTS = ['skipped', 'scanned', 'bound'] as const;

export function contentScanResult(report: ContentReport): (typeof CONTENT_SCAN_RESULTS)[number] {
  if (!report.scanned) return 'skipped';
  return report.bound === null ? 'scanned' : 'bound';
}

/**
 * The metrics of DESIGN.md, on a registry of our own (never prom-client's
 * global one, so two instances in one process, as in tests, do not collide).
 * Every label has a small fixed set of values; rule names come from the
 * config. No address, subject or id is ever a label.
 */
export function createMetrics(ruleNames: readonly string[], { contentOn = false }: { contentOn?: boolean } = {}) {
  const registry = new Registry();
  // The store is opened after the metrics exist; scrapes read it through this.
  let store: MessageStore | null = null;
  let readiness: (() => Promise<ReadinessReport>) | null = null;
  let workersListening: (() => number) | null = null;
  let upstreamSessions: (() => number) | null = null;
  collectDefaultMetrics({ register: registry });
  // Both readiness gauges are collected in parallel at scrape time: one check serves both.
  let lastCheck: { at: number; report: Promise<ReadinessReport> } | null = null;
  const readinessForScrape = (): Promise<ReadinessReport | null> => {
    if (!readiness) return Promise.resolve(null);
    if (!lastCheck || Date.now() - lastCheck.at > 1000) lastCheck = { at: Date.now(), report: readiness() };
    return lastCheck.report;
  };
  // The quarantine and delayed gauges both need the counts by status; on the file store
  // that is a walk over every record, so one scrape asks once (as for readiness above).
  let lastCounts: { at: number; counts: Promise<Record<RecordStatus, number>> } | null = null;
  const countsForScrape = (opened: MessageStore): Promise<Record<RecordStatus, number>> => {
    if (!lastCounts || Date.now() - lastCounts.at > 1000) lastCounts = { at: Date.now(), counts: opened.countByStatus() };
    return lastCounts.counts;
  };
  new Gauge({
    name: 'mailguard_ready_check',
    help: '1 when this readiness check passes (store, upstream, draining = not draining)',
    labelNames: ['check'] as const,
    registers: [registry],
    // Which check failed, so "the relay is down" and "the store is down" read apart on a dashboard.
    async collect() {
      const report = await readinessForScrape();
      if (!report) return;
      this.set({ check: 'store' }, report.checks.store === 'ok' ? 1 : 0);
      this.set({ check: 'upstream' }, report.checks.upstream.startsWith('failing') ? 0 : 1);
      this.set({ check: 'draining' }, report.checks.draining ? 0 : 1);
      if (report.checks.workers !== undefined) this.set({ check: 'workers' }, report.checks.workers.startsWith('0 ') ? 0 : 1);
    },
  });
  const metrics = {
    registry,
    messages: new Counter({ name: 'mailguard_messages_total', help: 'Messages by outcome', labelNames: ['action'] as const, registers: [registry] }),
    violations: new Counter({
      name: 'mailguard_violations_total',
      help: 'Messages that broke a threshold, by rule',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    // Per message with a content threshold configured: what the content scan cost (skipped: the pre-scan said no).
    contentScans: new Counter({
      name: 'mailguard_content_scans_total',
      help: 'Content scans by result: skipped (the pre-scan ruled it out), scanned, bound (a limit stopped it and the message was held)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    visibleExternal: new Histogram({
      name: 'mailguard_visible_external_recipients',
      help: 'Distinct external addresses visible in a message',
      buckets: [0, 1, 2, 5, 10, 20, 50, 100, 500, 1000],
      registers: [registry],
    }),
    upstreamSeconds: new Histogram({
      name: 'mailguard_upstream_seconds',
      help: 'Upstream transaction time, MAIL FROM to the reply to the final dot',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    upstreamPoolWait: new Histogram({
      name: 'mailguard_upstream_pool_wait_seconds',
      help: 'How long a transaction that found no free upstream session waited for one',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    upstreamPoolSessions: new Gauge({
      name: 'mailguard_upstream_pool_sessions',
      help: 'Upstream sessions open or opening (upstream.pool: auto follows the load)',
      registers: [registry],
      collect() {
        if (upstreamSessions) this.set(upstreamSessions());
      },
    }),
    upstreamErrors: new Counter({
      name: 'mailguard_upstream_errors_total',
      help: 'Upstream transactions that failed, by class',
      labelNames: ['class'] as const,
      registers: [registry],
    }),
    quarantine: new Gauge({
      name: 'mailguard_quarantine_messages',
      help: 'Records in the store by status',
      labelNames: ['status'] as const,
      registers: [registry],
      // Read at scrape time. A store that does not answer keeps the last values; readiness shows the outage.
      async collect() {
        if (!store) return;
        try {
          const counts = await countsForScrape(store);
          for (const status of RECORD_STATUSES) this.set({ status }, counts[status]);
        } catch {
          // keep the previous values
        }
      },
    }),
    oldestHeld: new Gauge({
      name: 'mailguard_quarantine_oldest_held_seconds',
      help: 'Age of the oldest held message (0 when none)',
      registers: [registry],
      async collect() {
        if (!store) return;
        try {
          const oldest = await store.oldestReceivedAt('held');
          this.set(oldest ? Math.max(0, (Date.now() - oldest.getTime()) / 1000) : 0);
        } catch {
          // keep the previous value
        }
      },
    }),
    // Senders paused by policy.breaker, on every instance sharing the store (one number, not per instance).
    breakersOpen: new Gauge({
      name: 'mailguard_breakers_open',
      help: 'Envelope senders whose breaker is open (their mail is held or answered 451 until an operator resets it)',
      registers: [registry],
      async collect() {
        if (!store) return;
        try {
          this.set((await store.breakers.list()).length);
        } catch {
          // keep the previous value
        }
      },
    }),
    sessions: new Counter({ name: 'mailguard_smtp_sessions_total', help: 'SMTP sessions by result', labelNames: ['result'] as const, registers: [registry] }),
    // One per client address reaching the failed-login limit; auth_failed above counts each failed login.
    authLockouts: new Counter({
      name: 'mailguard_auth_lockouts_total',
      help: 'Client addresses locked out of SMTP AUTH after repeated failed logins',
      registers: [registry],
    }),
    messageBytes: new Histogram({
      name: 'mailguard_message_bytes',
      help: 'Message size in bytes',
      buckets: [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 52428800],
      registers: [registry],
    }),
    // A rewrite that still exposed someone is a bug in the rewrite or a new header form: worth an alert.
    copiesWithheld: new Counter({
      name: 'mailguard_copies_withheld_total',
      help: 'Messages held because a bcc or split copy would still have named another recipient, by form',
      labelNames: ['form'] as const,
      registers: [registry],
    }),
    // sent, failed (gave up), dropped (queue full), skipped (not due: once per campaign and hour, <>, Auto-Submitted, rehearsal).
    notices: new Counter({
      name: 'mailguard_notices_total',
      help: 'Sender notices and webhook events by kind and how they ended',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    delayed: new Gauge({
      name: 'mailguard_delayed_messages',
      help: 'Messages waiting out their delay window (status delayed)',
      registers: [registry],
      async collect() {
        if (!store) return;
        try {
          this.set((await countsForScrape(store)).delayed);
        } catch {
          // keep the previous value
        }
      },
    }),
    claimsExpired: new Gauge({
      name: 'mailguard_release_claims_expired',
      help: 'Release claims whose lease expired before the release finished: each waits for an operator (GET /api/claims/expired)',
      registers: [registry],
      async collect() {
        if (!store) return;
        try {
          this.set((await store.expiredClaims(new Date(), 1000)).length);
        } catch {
          // keep the previous value
        }
      },
    }),
    delayedDepartures: new Counter({
      name: 'mailguard_delayed_departures_total',
      help: 'Delayed messages at their release time, by result: released, retry (temporary failure), failed (refused for good), held',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    // With workers (src/workers): counted by the primary, which restarts a worker that died.
    workerRestarts: new Counter({
      name: 'mailguard_worker_restarts_total',
      help: 'SMTP worker processes that died unexpectedly and were started again',
      registers: [registry],
    }),
    // SIGHUP (src/workers/config-reload.ts): counted by the process that read the file, the primary with workers.
    configReloads: new Counter({
      name: 'mailguard_config_reload_total',
      help: 'Config reloads (SIGHUP) by result: success, or failure (the running config stayed in force)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    configLastReloadSuccess: new Gauge({
      name: 'mailguard_config_last_reload_success',
      help: '1 when the last config reload succeeded (or none was tried since start), 0 when it failed',
      registers: [registry],
    }),
    configLoadedAt: new Gauge({
      name: 'mailguard_config_loaded_timestamp_seconds',
      help: 'When the running config was loaded (start or the last successful reload), Unix seconds',
      registers: [registry],
    }),
    workersListening: new Gauge({
      name: 'mailguard_workers_listening',
      help: 'SMTP worker processes listening on smtp.port (with workers > 1)',
      registers: [registry],
      collect() {
        if (workersListening) this.set(workersListening());
      },
    }),
    ready: new Gauge({
      name: 'mailguard_ready',
      help: '1 when the store and upstream answer and mail-guard is not draining',
      registers: [registry],
      // Checked at scrape time too, so the alert works without anyone probing /readyz.
      async collect() {
        const report = await readinessForScrape();
        if (report) this.set(report.ready ? 1 : 0);
      },
    }),
  };
  // Start every known series at 0 so rate() and absent-value alerts work from the first scrape.
  for (const action of OUTCOME_ACTIONS) metrics.messages.inc({ action }, 0);
  for (const result of SESSION_RESULTS) metrics.sessions.inc({ result }, 0);
  metrics.authLockouts.inc(0);
  metrics.workerRestarts.inc(0);
  for (const result of CONFIG_RELOAD_RESULTS) metrics.configReloads.inc({ result }, 0);
  metrics.configLastReloadSuccess.set(1);
  metrics.configLoadedAt.set(Math.floor(Date.now() / 1000));
  for (const c of UPSTREAM_ERROR_CLASSES) metrics.upstreamErrors.inc({ class: c }, 0);
  for (const form of COPY_FORMS) metrics.copiesWithheld.inc({ form }, 0);
  for (const kind of NOTICE_KINDS) for (const result of NOTICE_RESULTS) metrics.notices.inc({ kind, result }, 0);
  for (const result of DEPARTURE_RESULTS) metrics.delayedDepartures.inc({ result }, 0);
  for (const rule of new Set([...ruleNames, 'default'])) metrics.violations.inc({ rule }, 0);
  if (contentOn) for (const result of CONTENT_SCAN_RESULTS) metrics.contentScans.inc({ result }, 0);
  return {
    ...metrics,
    watchStore(opened: MessageStore | null) {
      store = opened;
    },
    watchReadiness(check: () => Promise<ReadinessReport>) {
      readiness = check;
    },
    watchWorkers(listening: () => number) {
      workersListening = listening;
    },
    watchUpstreamPool(sessions: () => number) {
      upstreamSessions = sessions;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Read from the store or about the whole service: with workers the primary
 * reports these once, and the workers' copies are left out of the sum (a
 * quarantine count summed over N workers would be N times too high).
 */
export const PRIMARY_ONLY_METRICS: ReadonlySet<string> = new Set([
  'mailguard_ready',
  'mailguard_config_reload_total',
  'mailguard_config_last_reload_success',
  'mailguard_config_loaded_timestamp_seconds',
  'mailguard_ready_check',
  'mailguard_quarantine_messages',
  'mailguard_quarantine_oldest_held_seconds',
  'mailguard_breakers_open',
  'mailguard_delayed_messages',
  'mailguard_release_claims_expired',
  'mailguard_worker_restarts_total',
  'mailguard_workers_listening',
]);
