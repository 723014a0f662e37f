import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { NoticeMarks } from '../store/message-store.js';
import { upstreamEnvelope, type Relay } from './relay.js';
import { buildSenderNotice, type SenderNoticeLanguage } from './sender-notice-message.js';
import type { NoticeCause, SenderNotices } from './sender-notices.js';

/** How a notice (or a webhook event) ended: the label values of mailguard_notices_total{result}. */
export const NOTICE_RESULTS = ['sent', 'failed', 'dropped', 'skipped'] as const;
export type NoticeResult = (typeof NOTICE_RESULTS)[number];

/** One notice per campaign and this period (DESIGN.md: one an hour). */
export const SENDER_NOTICE_PERIOD_SECONDS = 3600;
/** Notices on their way at once; past this one is dropped (counted, logged) rather than queued without bound. */
const MAX_IN_FLIGHT = 50;

export interface SenderNotifierDeps {
  /** null: rehearsal mode; nothing leaves the machine, the notice is only logged ("would notify"). */
  readonly relay: Relay | null;
  /** Shared by every instance: one notice per campaign and period, whichever instance held the message. */
  readonly marks: NoticeMarks;
  readonly language: SenderNoticeLanguage;
  /** notify.from */
  readonly from: string;
  readonly logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** Told how each considered notice ended (the metric). */
  readonly onResult?: (result: NoticeResult) => void;
}

/**
 * The mark a notice takes: its campaign for held and rejected mail; for a
 * paused sender the sender itself (hashed: no address in a store key), since
 * every subject it tries is paused alike and one "you are paused" an hour says it.
 */
function markFor(cause: NoticeCause): string {
  if (cause.what !== 'paused') return `notice:${cause.campaign}`;
  return `notice:paused:${createHash('sha256').update(cause.context.mailFrom.toLowerCase()).digest('hex').slice(0, 24)}`;
}

/** The relay answered, but accepted the notice for nobody. */
export class NoticeRefusedError extends Error {
  override readonly name = 'NoticeRefusedError';
}

/**
 * RFC 3834 s2: the values of every Auto-Submitted field in the header block,
 * lower case, comments and parameters left out. Anything but `no` marks an
 * automatic message, and nobody answers one automatically: that is also what
 * keeps a notice from ever causing another.
 */
export function autoSubmittedValues(head: Buffer): string[] {
  const text = head.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const unfolded = (end === -1 ? text : text.slice(0, end)).replace(/\r\n(?=[ \t])/g, '');
  const values: string[] = [];
  for (const line of unfolded.split('\r\n')) {
    const match = /^auto-submitted[ \t]*:(.*)$/i.exec(line);
    if (match)
      values.push(
        match[1]!
          .replace(/\([^)]*\)/g, '')
          .split(';')[0]!
          .trim()
          .toLowerCase(),
      );
  }
  return values;
}

/**
 * The SenderNotices the pipeline calls (actions/sender-notices.ts): decides
 * whether a notice is due and sends it through the upstream relay with the
 * null envelope sender, off the SMTP path (consider() returns at once; the
 * mailer's answer never waits on it). No log line or metric carries an address.
 */
export class SenderNotifier implements SenderNotices {
  readonly #inFlight = new Set<Promise<void>>();
  /** Marks this process has seen taken, until when: a burst of 832 asks the store once. */
  readonly #recent = new Map<string, number>();

  constructor(private readonly deps: SenderNotifierDeps) {}

  consider(cause: NoticeCause): void {
    const skip = this.#reasonToSkip(cause) ?? (this.#recentlyHere(markFor(cause)) ? 'notified this hour' : null);
    if (skip) {
      this.deps.logger.debug({ event: 'sender_notice', id: cause.id, campaign: cause.campaign, result: 'skipped', why: skip }, 'no sender notice');
      return this.#count('skipped');
    }
    if (this.#inFlight.size >= MAX_IN_FLIGHT) {
      this.deps.logger.warn(
        { event: 'sender_notice', id: cause.id, campaign: cause.campaign, result: 'dropped' },
        'too many sender notices under way; one dropped',
      );
      return this.#count('dropped');
    }
    // Until the shared mark answers, this job stands for its campaign here: the rest of a burst skips at once.
    this.#remember(markFor(cause), 60_000);
    const job = this.#notify(cause).catch((err: unknown) => this.#failed(cause, 'unexpected', err));
    this.#inFlight.add(job);
    void job.finally(() => this.#inFlight.delete(job));
  }

  /** Waits for the notices under way, at most `ms`; on app stop, before the upstream pool closes. */
  async close(ms = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([Promise.allSettled([...this.#inFlight]), late]);
    clearTimeout(timer);
  }

  #reasonToSkip(cause: NoticeCause): string | null {
    // A bounce or another automatic message: answering it could loop (RFC 3834, RFC 5321 s6.1).
    if (cause.context.mailFrom === '') return 'null sender';
    if (autoSubmittedValues(cause.head).some((v) => v !== 'no')) return 'auto-submitted';
    return null;
  }

  async #notify(cause: NoticeCause): Promise<void> {
    const about = { event: 'sender_notice', id: cause.id, campaign: cause.campaign, what: cause.what };
    let first: boolean;
    try {
      first = await this.deps.marks.firstWithin(markFor(cause), SENDER_NOTICE_PERIOD_SECONDS);
    } catch (err) {
      // Without the mark every held message of the campaign could send one: none is the safer wrong.
      return this.#failed(cause, 'store', err);
    }
    // Notified (here or by another instance): quiet here for the period, or a minute when another instance's mark has an unknown age.
    this.#remember(markFor(cause), first ? SENDER_NOTICE_PERIOD_SECONDS * 1000 : 60_000);
    if (!first) {
      this.deps.logger.debug({ ...about, result: 'skipped', why: 'notified this hour' }, 'no sender notice');
      return this.#count('skipped');
    }
    const notice = await buildSenderNotice({
      id: cause.id,
      what: cause.what,
      from: this.deps.from,
      to: cause.context.mailFrom,
      subject: cause.subject,
      receivedAt: new Date(cause.receivedAt),
      exposedExternalCount: cause.exposedExternalCount,
      exposingHeaders: cause.exposingHeaders,
      content: cause.content,
      language: this.deps.language,
    });
    if (this.deps.relay === null) {
      this.deps.logger.debug({ ...about, result: 'skipped', bytes: notice.length }, 'rehearsal mode: would notify the sender');
      return this.#count('skipped');
    }
    try {
      const envelope = upstreamEnvelope('', [cause.context.mailFrom], notice.length, undefined);
      const delivery = await this.deps.relay.send(envelope, [notice]);
      if (delivery.accepted.length === 0) throw new NoticeRefusedError('the relay refused the sender as a recipient');
    } catch (err) {
      return this.#failed(cause, 'upstream', err);
    }
    this.deps.logger.info({ ...about, result: 'sent' }, 'sender notified');
    this.#count('sent');
  }

  #failed(cause: NoticeCause, stage: 'store' | 'upstream' | 'unexpected', err: unknown): void {
    // The error's class and codes only: an upstream's text may quote the address it refused.
    const e = err as { name?: unknown; kind?: unknown; responseCode?: unknown; code?: unknown };
    const error = { name: e.name, kind: e.kind, responseCode: e.responseCode, code: e.code };
    this.deps.logger.warn({ event: 'sender_notice', id: cause.id, campaign: cause.campaign, result: 'failed', stage, error }, 'sender notice failed');
    this.#count('failed');
  }

  #recentlyHere(key: string): boolean {
    return (this.#recent.get(key) ?? 0) > Date.now();
  }

  #remember(key: string, forMs: number): void {
    const now = Date.now();
    if (this.#recent.size >= 10_000) for (const [k, until] of this.#recent) if (until <= now) this.#recent.delete(k);
    if (this.#recent.size >= 10_000) this.#recent.clear();
    this.#recent.set(key, now + forMs);
  }

  #count(result: NoticeResult): void {
    this.deps.onResult?.(result);
  }
}
