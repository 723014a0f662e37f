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
import { NO_EVENTS, type GuardEvents } from './actions/guard-events.js';
import { configHash, type LoadedConfig } from './config/reload-plan.js';
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
  /** The config the next transaction runs under, with its hash and load time. */
  loaded(): LoadedConfig & { readonly config: MailGuardConfig };
  /**
   * Builds what a new config changes (judge, notify, breaker, tokens), after start();
   * nothing changes until commit(), so a reload across workers can still be called off.
   * The config must be an effective one (src/config/reload-plan.ts: restart-only keys as they run).
   */
  prepareReload(next: MailGuardConfig): PreparedReload;
}

export interface PreparedReload {
  readonly hash: string;
  /** From now on new transactions and admin requests use the new config; those in flight finish under theirs. */
  commit(): void;
  abort(): void;
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

/**
 * What one config builds for the per-transaction path. A transaction takes the
 * current one when it starts and keeps it (a reload swaps the reference, never
 * mutates it); a superseded one closes its notifiers when its last transaction ends.
 */
interface Generation {
  readonly config: MailGuardConfig;
  readonly loaded: LoadedConfig;
  readonly judge: ReturnType<typeof createJudge>;
  readonly mask: ReturnType<typeof makeAddressMasker>;
  /** null until start(): the notifiers and the breaker need the open store. */
  readonly parts: GenerationParts | null;
  inFlight: number;
  retired: boolean;
}

interface GenerationParts {
  readonly deps: ProcessDeps;
  readonly events: GuardEvents;
  readonly webhooks: WebhookDispatcher | null;
  readonly senderNotices: SenderNotifier | null;
}

/** Builds every part from a validated config; nothing listens until start(). */
export function createApp(config: MailGuardConfig, logger: Logger, options: AppOptions = {}): App {
  const role = options.role ?? 'all';
  const startJudge = createJudge(config, () => performance.now());
  // A paused sender's violations count under the rule "breaker": its series exists from the start when a breaker is configured.
  const metrics = createMetrics([...config.policy.rules.map((r) => r.name), ...(config.policy.breaker ? ['breaker'] : [])], {
    contentOn: startJudge.scanContent !== null,
  });
  const pool = config.upstream ? new UpstreamPool(config.upstream, { logger, onWait: (seconds) => metrics.upstreamPoolWait.observe(seconds) }) : null;
  if (pool) metrics.watchUpstreamPool(() => pool.sessions);
  const health = new UpstreamHealth();
  const relay = pool ? instrumentRelay(pool, metrics, health) : null;
  const generationOf = (next: MailGuardConfig, judge = createJudge(next, () => performance.now())): Generation => ({
    config: next,
    loaded: { hash: configHash(next), loadedAt: Date.now() },
    judge,
    mask: makeAddressMasker(next.log.showAddresses),
    parts: null,
    inFlight: 0,
    retired: false,
  });
  let current = generationOf(config, startJudge);
  let draining = false;
  let stopped = false;

  const retire = (old: Generation) => {
    old.retired = true;
    if (old.inFlight === 0) void closeNotifiers(old);
  };
  const closeNotifiers = (g: Generation) => Promise.all([g.parts?.webhooks?.close(), g.parts?.senderNotices?.close()]);

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
    // The config this transaction runs under, to its end, whatever a reload does meanwhile.
    const generation = current;
    const deps = generation.parts?.deps;
    if (!deps || stopped) return replies.shuttingDown();
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
    generation.inFlight++;
    try {
      const result = await processMessage(deps, received, tx.signal);
      count(result);
      logMessageOutcome(logger, generation.mask, received, result, receiveMs);
      return result.reply;
    } catch (err) {
      metrics.messages.inc({ action: 'tempfail' });
      logger.error({ id, err }, 'message handling failed; answered 451');
      return { ...replies.analysisFailed(), text: `${replies.analysisFailed().text} [${id}]` };
    } finally {
      generation.inFlight--;
      if (generation.retired && generation.inFlight === 0) void closeNotifiers(generation);
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
  let scheduler: DelayScheduler | null = null;
  const notice = (c: MailGuardConfig) => ({ language: c.notify.language, reportingMta: hostname(), remoteMta: c.upstream?.host ?? null });

  // notify: webhooks to the people on duty, notices to the sender; both off the SMTP path, drained a bounded time on stop.
  const partsOf = (g: Generation, opened: MessageStore): GenerationParts => {
    const { notify } = g.config;
    const { mask } = g;
    const webhooks =
      notify.webhooks.length > 0
        ? new WebhookDispatcher({
            webhooks: notify.webhooks,
            marks: opened.marks,
            mask,
            logger,
            onResult: (result: NoticeResult) => metrics.notices.inc({ kind: 'webhook', result }),
          })
        : null;
    const senderNotices =
      notify.sender && notify.from !== undefined
        ? new SenderNotifier({
            relay,
            marks: opened.marks,
            language: notify.language,
            from: notify.from,
            logger,
            onResult: (result: NoticeResult) => metrics.notices.inc({ kind: 'sender', result }),
          })
        : null;
    const events = webhooks ?? NO_EVENTS;
    const breakerLimits = g.config.policy.breaker;
    const breaker = breakerLimits ? createBreakerGate({ store: opened, limits: breakerLimits, events, logger, mask }) : null;
    const { analyse, decide, scanContent } = g.judge;
    const deps: ProcessDeps = { ...shared(opened), analyse, decide, scanContent, mask, notice: notice(g.config), breaker, events, senderNotices };
    return { deps, events, webhooks, senderNotices };
  };
  // What start fixes for the life of the process (restart-only keys: store, upstream, smtp).
  const shared = (opened: MessageStore) => ({
    relay,
    // Part of the store: with store.type redis every instance sees the same one.
    ledger: opened.ledger,
    store: opened,
    splitConcurrency: config.upstream ? splitConcurrencyFor(config.upstream.pool) : 1,
    maxHeaderBytes: config.smtp.maxHeaderBytes,
    claimLeaseSeconds: config.store.claimLeaseSeconds,
  });

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
    loaded: () => ({ ...current.loaded, config: current.config }),
    beginDrain() {
      draining = true;
    },
    prepareReload(next) {
      const opened = store;
      if (!opened || stopped) throw new Error('mail-guard is not running: nothing to reload');
      const generation = generationOf(next);
      const prepared = { ...generation, parts: partsOf(generation, opened) };
      let settled = false;
      return {
        hash: prepared.loaded.hash,
        commit() {
          if (settled) return;
          settled = true;
          const old = current;
          current = prepared;
          logger.level = next.log.level;
          // A new rule's series exists from the switch, as the start's rules do from the start.
          for (const rule of next.policy.rules) metrics.violations.inc({ rule: rule.name }, 0);
          retire(old);
        },
        abort() {
          if (settled) return;
          settled = true;
          void closeNotifiers(prepared);
        },
      };
    },
    async start() {
      const opened = await openStore(config.store, logger, options.fileLedger);
      store = opened;
      if (role !== 'ingress') {
        metrics.watchStore(opened);
        retention = startRetention(opened, config.store.retentionDays, logger);
      }
      current = { ...current, parts: partsOf(current, opened) };
      const { deps } = current.parts!;
      // Delayed mail leaves from here (policy.delaySeconds); in rehearsal mode nothing leaves at all.
      // It keeps the start config's analysis and notice settings (a departure re-checks what was held then).
      if (relay && role !== 'ingress') {
        scheduler = startDelayScheduler({
          ...shared(opened),
          analyse: deps.analyse,
          notice: deps.notice,
          relay,
          logger,
          onDeparture: (result) => metrics.delayedDepartures.inc({ result }),
        });
      }
      // Read per request: a reload replaces the tokens, four-eyes, the notifiers and the masking.
      const review = {
        ...shared(opened),
        get analyse() {
          return current.judge.analyse;
        },
        get tokens() {
          return current.config.admin.tokens;
        },
        get fourEyes() {
          return current.config.policy.fourEyes;
        },
        get events() {
          return current.parts?.events ?? NO_EVENTS;
        },
        get mask() {
          return current.mask;
        },
        loadedConfig: () => current.loaded,
        logger,
      };
      if (role !== 'ingress') {
        admin = createAdminServer(config.admin, {
          api: createAdminApi(review),
          ui: createReviewerUi(Object.defineProperty(review, 'sessionSecret', { value: config.admin.sessionSecret, enumerable: true })),
          registry: options.metricsRegistry?.(metrics.registry) ?? metrics.registry,
          readiness,
          loadedConfig: () => current.loaded,
        });
      }
      const smtpPort = (await ingress?.listen()) ?? 0;
      const adminPort = (await admin?.listen()) ?? 0;
      return { smtpPort, adminPort };
    },
    async stop() {
      draining = true;
      await ingress?.close();
      stopped = true;
      // Before the pool closes: a departure under way finishes, no new one starts.
      await scheduler?.stop();
      // Notices and webhook events already taken get a bounded moment to leave, before the upstream pool closes.
      await Promise.all([admin?.close(), closeNotifiers(current)]);
      await pool?.close();
      retention?.stop();
      await store?.close();
    },
  };
}
