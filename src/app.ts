import { hostname } from 'node:os';
import { processMessage, type MessageResult, type ProcessDeps } from './actions/process-message.js';
import { createAdminServer, type AdminServer } from './admin/admin-server.js';
import { createAdminApi } from './admin/api.js';
import { createReviewerUi } from './admin/ui/ui-plugin.js';
import { contentScanResult, createMetrics, type Metrics } from './observability/metrics.js';
import { checkReadiness } from './observability/readiness.js';
import type { MailGuardConfig } from './config/schema.js';
import type { Logger } from './observability/logger.js';
import { makeAddressMasker } from './observability/mask.js';
import { logMessageOutcome } from './observability/message-line.js';
import { newMessageId } from './message/message-id.js';
import { createJudge } from './policy/judge.js';
import { createIngress, type ReceivedTransaction, type SharedClientLimits } from './smtp/ingress.js';
import { replies, type SmtpReply } from './reply/replies.js';
import type { DeliveryLedger, MessageStore } from './store/message-store.js';
import type { Registry } from 'prom-client';
import type { WorkersReadiness } from './observability/readiness.js';
import { openStore } from './store/open-store.js';
import { startRetention } from './review/retention.js';
import { createBreakerGate } from './review/breaker.js';
import { startDelayScheduler, type DelayScheduler } from './review/delay-scheduler.js';
import { instrumentRelay, UpstreamHealth } from './observability/instrumented-relay.js';
import { UpstreamPool } from './upstream/pool.js';
import { splitConcurrencyFor } from './upstream/pool-sizing.js';
import { NO_EVENTS } from './actions/guard-events.js';
import { SenderNotifier, type NoticeResult } from './actions/sender-notifier.js';
import { WebhookDispatcher } from './observability/webhooks.js';

export interface App {
  /** The ports listened on; 0 for a part this role does not run. */
  start(): Promise<{ smtpPort: number; adminPort: number }>;
  /** Not ready first, then no new sessions, then in-flight transactions finish. */
  stop(): Promise<void>;
  /** Not ready from now on: a drain has begun elsewhere (the primary's workers) before stop(). */
  beginDrain(): void;
  readonly mode: 'relay' | 'rehearsal';
  readonly metrics: Metrics;
  /** The open store (null before start and after stop). */
  store(): MessageStore | null;
}

/**
 * What one process runs (src/workers/cluster-serve.ts says why):
 * - all (default, `workers: 1`): everything, as one process.
 * - ingress (a worker): SMTP, processMessage, its own upstream pool and store
 *   handle; no admin server, delay scheduler or retention.
 * - primary (with workers): the admin server, the delay scheduler and retention
 *   once; no SMTP listener (the workers share the port).
 */
export interface AppOptions {
  readonly role?: 'all' | 'ingress' | 'primary';
  /** ingress: connection caps and AUTH lockouts kept by the primary, so they hold across workers. */
  readonly clientLimits?: SharedClientLimits;
  /** ingress with the file store: the primary's delivery ledger (one process owns the file). */
  readonly fileLedger?: DeliveryLedger & { close(): Promise<void> };
  /** primary: what /metrics serves (the sum over the workers and this process). */
  readonly metricsRegistry?: (own: Registry) => Registry;
  /** primary: how many workers listen, for readiness. */
  readonly workers?: () => WorkersReadiness;
}

/** Builds every part from a validated config; nothing listens until start(). */
export function createApp(config: MailGuardConfig, logger: Logger, options: AppOptions = {}): App {
  const role = options.role ?? 'all';
  // A paused sender's violations count under the rule "breaker": its series exists from the start when a breaker is configured.
  const { analyse, decide, scanContent } = createJudge(config, () => performance.now());
  const metrics = createMetrics([...config.policy.rules.map((r) => r.name), ...(config.policy.breaker ? ['breaker'] : [])], {
    contentOn: scanContent !== null,
  });
  const pool = config.upstream ? new UpstreamPool(config.upstream, { logger, onWait: (seconds) => metrics.upstreamPoolWait.observe(seconds) }) : null;
  if (pool) metrics.watchUpstreamPool(() => pool.sessions);
  const health = new UpstreamHealth();
  const relay = pool ? instrumentRelay(pool, metrics, health) : null;
  const mask = makeAddressMasker(config.log.showAddresses);
  let deps: ProcessDeps | null = null;
  let draining = false;

  const count = (result: MessageResult) => {
    metrics.messages.inc({ action: result.action });
    metrics.messageBytes.observe(result.size);
    if (result.verdict?.violation) metrics.violations.inc({ rule: result.verdict.rule });
    if (result.analysis) metrics.visibleExternal.observe(result.analysis.exposure.visibleExternalCount);
    if (result.withheld) metrics.copiesWithheld.inc({ form: result.withheld.form });
    if (result.content) metrics.contentScans.inc({ result: contentScanResult(result.content) });
  };

  const onMessage = async (tx: ReceivedTransaction): Promise<SmtpReply> => {
    const id = newMessageId();
    if (!deps) return replies.shuttingDown();
    const received = {
      id,
      receivedAt: Date.now(),
      chunks: tx.chunks,
      context: {
        mailFrom: tx.mailFrom,
        rcptTo: tx.rcptTo,
        clientAddress: tx.session.remoteAddress,
        authUser: typeof tx.session.user === 'string' ? tx.session.user : undefined,
        esmtp: tx.esmtp,
      },
    };
    const receiveMs = performance.now() - tx.dataStartedAt;
    try {
      const result = await processMessage(deps, received, tx.signal);
      count(result);
      logMessageOutcome(logger, mask, received, result, receiveMs);
      return result.reply;
    } catch (err) {
      metrics.messages.inc({ action: 'tempfail' });
      logger.error({ id, err }, 'message handling failed; answered 451');
      return { ...replies.analysisFailed(), text: `${replies.analysisFailed().text} [${id}]` };
    }
  };

  const ingress =
    role === 'primary'
      ? null
      : createIngress(
          config.smtp,
          {
            onMessage,
            onSession: (result) => metrics.sessions.inc({ result }),
            onAuthFailure: () => metrics.sessions.inc({ result: 'auth_failed' }),
            onAuthLockout: ({ clientAddress, failures, windowSeconds }) => {
              metrics.authLockouts.inc();
              // The client's IP only: the user name may be a mail address, and the password never belongs in a log.
              logger.warn(
                { event: 'auth_lockout', client: clientAddress, failures, windowSeconds },
                'SMTP AUTH locked out a client address after repeated failed logins',
              );
            },
            onOversized: (size) => {
              metrics.messages.inc({ action: 'reject' });
              metrics.messageBytes.observe(size);
            },
          },
          options.clientLimits,
        );
  let admin: AdminServer | null = null;
  let store: MessageStore | null = null;
  let retention: { stop(): void } | null = null;
  // notify: webhooks to the people on duty, notices to the sender; both off the SMTP path, drained a bounded time on stop.
  let webhooks: WebhookDispatcher | null = null;
  let senderNotices: SenderNotifier | null = null;
  let scheduler: DelayScheduler | null = null;

  const upstreamReadiness = pool && {
    get lastSuccessAt() {
      return health.lastSuccessAt;
    },
    get lastFailure() {
      return health.lastFailure;
    },
    verify: () => pool.verify(),
    probeSucceeded: () => health.recovered(),
  };
  const readiness = () => checkReadiness({ store: () => store, upstream: upstreamReadiness, draining: () => draining, workers: options.workers });
  // A worker's store gauges and readiness would be counted once per worker: the primary reports them.
  if (role !== 'ingress') metrics.watchReadiness(readiness);

  return {
    mode: pool ? 'relay' : 'rehearsal',
    metrics,
    store: () => store,
    beginDrain() {
      draining = true;
    },
    async start() {
      const opened = await openStore(config.store, logger, options.fileLedger);
      store = opened;
      if (role !== 'ingress') {
        metrics.watchStore(opened);
        retention = startRetention(opened, config.store.retentionDays, logger);
      }
      const shared = {
        relay,
        // Part of the store: with store.type redis every instance sees the same one.
        ledger: opened.ledger,
        store: opened,
        splitConcurrency: config.upstream ? splitConcurrencyFor(config.upstream.pool) : 1,
        maxHeaderBytes: config.smtp.maxHeaderBytes,
        analyse,
        claimLeaseSeconds: config.store.claimLeaseSeconds,
      };
      const notice = { language: config.notify.language, reportingMta: hostname(), remoteMta: config.upstream?.host ?? null };
      const { notify } = config;
      if (notify.webhooks.length > 0) {
        const onResult = (result: NoticeResult) => metrics.notices.inc({ kind: 'webhook', result });
        webhooks = new WebhookDispatcher({ webhooks: notify.webhooks, marks: opened.marks, mask, logger, onResult });
      }
      if (notify.sender && notify.from !== undefined) {
        const onResult = (result: NoticeResult) => metrics.notices.inc({ kind: 'sender', result });
        senderNotices = new SenderNotifier({ relay, marks: opened.marks, language: notify.language, from: notify.from, logger, onResult });
      }
      const events = webhooks ?? NO_EVENTS;
      const breakerLimits = config.policy.breaker;
      const breaker = breakerLimits ? createBreakerGate({ store: opened, limits: breakerLimits, events, logger, mask }) : null;
      deps = { ...shared, decide, scanContent, mask, notice, breaker, events, senderNotices };
      // Delayed mail leaves from here (policy.delaySeconds); in rehearsal mode nothing leaves at all.
      if (relay && role !== 'ingress') {
        scheduler = startDelayScheduler({
          ...shared,
          relay,
          notice,
          logger,
          onDeparture: (result) => metrics.delayedDepartures.inc({ result }),
        });
      }
      const review = { ...shared, tokens: config.admin.tokens, fourEyes: config.policy.fourEyes, logger, events, mask };
      if (role !== 'ingress') {
        admin = createAdminServer(config.admin, {
          api: createAdminApi(review),
          ui: createReviewerUi({ ...review, sessionSecret: config.admin.sessionSecret }),
          registry: options.metricsRegistry?.(metrics.registry) ?? metrics.registry,
          readiness,
        });
      }
      const smtpPort = (await ingress?.listen()) ?? 0;
      const adminPort = (await admin?.listen()) ?? 0;
      return { smtpPort, adminPort };
    },
    async stop() {
      draining = true;
      await ingress?.close();
      deps = null;
      // Before the pool closes: a departure under way finishes, no new one starts.
      await scheduler?.stop();
      // Notices and webhook events already taken get a bounded moment to leave, before the upstream pool closes.
      await Promise.all([admin?.close(), webhooks?.close(), senderNotices?.close()]);
      await pool?.close();
      retention?.stop();
      await store?.close();
    },
  };
}
