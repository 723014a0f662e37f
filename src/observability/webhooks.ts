import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { GuardEvent, GuardEvents } from '../actions/guard-events.js';
import type { NoticeResult } from '../actions/sender-notifier.js';
import type { MailGuardConfig } from '../config/schema.js';
import type { NoticeMarks } from '../store/message-store.js';
import type { AddressMasker } from './mask.js';
import { webhookBody } from './webhook-payload.js';

type WebhookConfig = MailGuardConfig['notify']['webhooks'][number];

/** Events waiting per webhook; past this new ones are dropped (counted, logged once per overflow). */
export const WEBHOOK_QUEUE_LIMIT = 1000;
/** A campaign's held events page each webhook once per this period, across every instance (the store's marks). */
export const HELD_PAGE_PERIOD_SECONDS = 3600;

export interface WebhookDispatcherDeps {
  readonly webhooks: readonly WebhookConfig[];
  readonly marks: NoticeMarks;
  /** log.showAddresses: the sender as the log shows it. */
  readonly mask: AddressMasker;
  readonly logger: Pick<Logger, 'debug' | 'warn'>;
  readonly onResult?: (result: NoticeResult) => void;
  /** The wait before the first retry; each further one waits twice as long. */
  readonly firstBackoffMs?: number;
  readonly queueLimit?: number;
}

/**
 * GuardEvents for notify.webhooks: emit() only puts the event on each
 * subscribed webhook's bounded queue and returns, so a slow or dead receiver
 * never slows an SMTP answer. One worker per webhook POSTs its queue in order
 * (fetch, timeoutSeconds per attempt), retries with doubling backoff up to
 * `retries` times, then drops the event with a warn line naming only the
 * URL's host (a Slack webhook's path is its secret).
 */
export class WebhookDispatcher implements GuardEvents {
  readonly #targets: WebhookTarget[];
  readonly #stopping = new AbortController();

  constructor(deps: WebhookDispatcherDeps) {
    this.#targets = deps.webhooks.map((hook) => new WebhookTarget(hook, deps, this.#stopping.signal));
  }

  emit(event: GuardEvent): void {
    if (this.#stopping.signal.aborted) return;
    for (const target of this.#targets) target.offer(event);
  }

  /** Stops taking events, lets the queues drain for at most `ms`, then abandons what is left (logged, counted). */
  async close(ms = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    const drained = Promise.all(this.#targets.map((t) => t.drained()));
    await Promise.race([drained, late]);
    clearTimeout(timer);
    this.#stopping.abort();
    for (const target of this.#targets) target.abandon();
  }
}

interface Job {
  readonly event: GuardEvent;
}

class WebhookTarget {
  readonly #queue: Job[] = [];
  readonly #host: string;
  readonly #markPrefix: string;
  /** Campaigns with a held event queued or paged here (until when): no second page from this process. */
  readonly #paged = new Map<string, number>();
  #overflowing = false;
  #worker: Promise<void> | null = null;

  constructor(
    private readonly hook: WebhookConfig,
    private readonly deps: WebhookDispatcherDeps,
    private readonly stopping: AbortSignal,
  ) {
    this.#host = new URL(hook.url).host;
    this.#markPrefix = `webhook:${createHash('sha256').update(hook.url).digest('hex').slice(0, 16)}:held:`;
  }

  offer(event: GuardEvent): void {
    if (!this.hook.events.includes(event.kind)) return;
    if (event.kind === 'held' && (this.#paged.get(event.campaign) ?? 0) > Date.now()) return this.#count('skipped');
    const limit = this.deps.queueLimit ?? WEBHOOK_QUEUE_LIMIT;
    if (this.#queue.length >= limit) {
      if (!this.#overflowing) {
        this.#overflowing = true;
        this.deps.logger.warn(
          { event: 'webhook_dropped', host: this.#host, kind: event.kind, queued: limit, why: 'queue full' },
          'webhook queue full; events dropped until it drains',
        );
      }
      return this.#count('dropped');
    }
    // Until the worker has asked the shared marks, a queued held event stands for its campaign here.
    if (event.kind === 'held') this.#remember(event.campaign, 60_000);
    this.#queue.push({ event });
    this.#worker ??= this.#work();
  }

  async drained(): Promise<void> {
    while (this.#worker) await this.#worker;
  }

  abandon(): void {
    if (this.#queue.length === 0) return;
    const left = this.#queue.splice(0);
    this.deps.logger.warn(
      { event: 'webhook_dropped', host: this.#host, dropped: left.length, why: 'stopping' },
      'mail-guard stopped with webhook events undelivered',
    );
    for (let i = 0; i < left.length; i++) this.#count('dropped');
  }

  async #work(): Promise<void> {
    // Starts after offer() has stored this promise; ends (worker cleared) in the same step as the queue is found empty,
    // so an event offered after that starts a new worker and none is left waiting.
    await Promise.resolve();
    try {
      for (let job = this.#queue.shift(); job && !this.stopping.aborted; job = this.#queue.shift()) {
        if (this.#queue.length < (this.deps.queueLimit ?? WEBHOOK_QUEUE_LIMIT) / 2) this.#overflowing = false;
        try {
          await this.#deliver(job.event);
        } catch (err) {
          this.deps.logger.warn({ event: 'webhook_dropped', host: this.#host, kind: job.event.kind, err: String(err) }, 'webhook event failed unexpectedly');
          this.#count('dropped');
        }
      }
    } finally {
      this.#worker = null;
    }
  }

  async #deliver(event: GuardEvent): Promise<void> {
    if (event.kind === 'held' && !(await this.#firstPage(event.campaign))) return this.#count('skipped');
    const body = webhookBody(event, this.hook.format, this.deps.mask);
    let backoff = this.deps.firstBackoffMs ?? 1000;
    for (let attempt = 1; ; attempt++) {
      const failure = await this.#post(body);
      if (failure === null) {
        this.deps.logger.debug({ event: 'webhook_sent', host: this.#host, kind: event.kind, attempts: attempt }, 'webhook delivered');
        return this.#count('sent');
      }
      if (attempt > this.hook.retries || this.stopping.aborted) {
        this.deps.logger.warn(
          { event: 'webhook_dropped', host: this.#host, kind: event.kind, attempts: attempt, lastError: failure },
          'webhook event dropped after retries',
        );
        return this.#count('dropped');
      }
      await pause(backoff, this.stopping);
      backoff *= 2;
    }
  }

  /** Whether this webhook is to be paged about this campaign now. A store that cannot say pages anyway: a duplicate page beats none. */
  async #firstPage(campaign: string): Promise<boolean> {
    let first = true;
    try {
      first = await this.deps.marks.firstWithin(this.#markPrefix + campaign, HELD_PAGE_PERIOD_SECONDS);
    } catch (err) {
      this.deps.logger.warn({ event: 'webhook_marks_failed', host: this.#host, err: String(err) }, 'cannot check whether this campaign was paged; paging');
    }
    // Paged (by this or another instance): quiet here for the rest of the period, or a minute when another instance paged at an unknown time.
    this.#remember(campaign, first ? HELD_PAGE_PERIOD_SECONDS * 1000 : 60_000);
    return first;
  }

  /** null when the receiver answered 2xx, else what went wrong (no URL in it). */
  async #post(body: string): Promise<string | null> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.hook.timeoutSeconds * 1000), this.stopping]);
    try {
      const response = await fetch(this.hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'mail-guard' },
        body,
        signal,
        // A redirect would resend the event somewhere the config does not name.
        redirect: 'error',
      });
      await response.body?.cancel().catch(() => undefined);
      return response.ok ? null : `HTTP ${response.status}`;
    } catch (err) {
      const e = err as { name?: string; cause?: { code?: string } };
      if (e.name === 'TimeoutError') return `no answer within ${this.hook.timeoutSeconds} s`;
      return e.cause?.code ?? e.name ?? 'failed';
    }
  }

  #remember(campaign: string, forMs: number): void {
    const now = Date.now();
    if (this.#paged.size >= 10_000) for (const [k, until] of this.#paged) if (until <= now) this.#paged.delete(k);
    if (this.#paged.size >= 10_000) this.#paged.clear();
    this.#paged.set(campaign, now + forMs);
  }

  #count(result: NoticeResult): void {
    this.deps.onResult?.(result);
  }
}

/** Resolves after `ms`, or at once when mail-guard stops. */
function pause(ms: number, stopping: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (stopping.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      stopping.removeEventListener('abort', done);
      resolve();
    }
    stopping.addEventListener('abort', done);
  });
}
