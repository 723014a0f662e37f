// The upstream relay client: a bounded pool of persistent SMTP sessions.
//
// - At most config.pool sessions (opening, idle or busy); callers beyond that wait
//   in FIFO order. A released session goes straight to the next waiter.
// - Sessions are reused without RSET after a successful transaction (the server
//   resets its state on the reply to the dot); after a failed one they are RSET
//   in the background and discarded if that fails.
// - A reused session that fails before any message byte was sent (the upstream
//   closed it while idle and we had not noticed yet) is replaced and the
//   transaction retried once on a fresh session. Nothing is ever retried once the
//   message was being sent: that could deliver it twice.
// - Sessions are rotated after maxMessagesPerConnection messages and closed after
//   idleTimeoutMs without use.
// - A send's AbortSignal (the mailer's transaction deadline, or the mailer gone)
//   cancels it: no MAIL FROM once it has fired, and a transaction in flight is
//   abandoned by ending its session before the final dot (the upstream then
//   discards it). After the dot nothing can be taken back: such a copy may be
//   delivered although its mailer was told to try again, and is logged as such.

import { isAscii } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { ConnectionOptions } from 'node:tls';
import type { UpstreamConfig } from '../config/schema.js';
import { UpstreamConnection, type ConnectionSettings, type SendInfo } from './upstream-connection.js';
import { abortReason, cancelledError, rejectedRecipientsOf, UpstreamError, type RejectedRecipient } from './upstream-error.js';
import { upstreamTlsOptions } from './upstream-tls.js';
import { RECIPIENT_PARAMS } from './recipient-params.js';
import type { RecipientParams } from '../policy/verdict.js';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';

export interface UpstreamEnvelope {
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  /** Sent as SIZE= when the upstream supports it; defaults to the message length. */
  readonly size?: number;
  /** The message needs SMTPUTF8: refused (553 5.6.7) if the upstream does not offer it. */
  readonly smtputf8?: boolean;
  /** Declare BODY=8BITMIME when the upstream supports it. */
  readonly eightBitMime?: boolean;
  /** RFC 8689: only over verified TLS to a relay that offers REQUIRETLS, else refused (550 5.7.30). */
  readonly requireTLS?: boolean;
  /** DSN parameters of MAIL FROM (RFC 3461), sent when the upstream offers DSN. */
  readonly dsn?: { readonly ret?: 'FULL' | 'HDRS' | undefined; readonly envid?: string | undefined };
  /** Each recipient's NOTIFY and ORCPT, by the address in rcptTo. */
  readonly recipientParams?: ReadonlyMap<string, RecipientParams>;
}

/** Whether any byte of the message is outside 7-bit ASCII (native scan). */
function hasEightBitData(message: Buffer | readonly Buffer[]): boolean {
  return (Buffer.isBuffer(message) ? [message] : message).some((chunk) => !isAscii(chunk));
}

const refusedHere = (responseCode: number, response: string, message: string): UpstreamError =>
  new UpstreamError({ kind: 'permanent', stage: 'envelope', responseCode, response, message });

export interface UpstreamDelivery {
  /** The upstream's reply to the final dot, e.g. "250 2.0.0 Ok: queued as X". */
  response: string;
  accepted: string[];
  /** Recipients refused at RCPT TO while others were accepted. */
  rejected: RejectedRecipient[];
  durationMs: number;
  reusedConnection: boolean;
}

export interface UpstreamPoolOptions {
  logger?: { warn(obj: object, msg: string): void };
  /** Overrides config.dataTimeoutSeconds (tests). */
  dataTimeoutMs?: number;
  /** Overrides config.connectTimeoutSeconds (tests). */
  connectTimeoutMs?: number;
  /** Default 1000. */
  maxMessagesPerConnection?: number;
  /** An idle session is QUIT after this long unused. Default 30 s. */
  idleTimeoutMs?: number;
  /** TLS options over those from upstream.tls (tests; rejectUnauthorized always comes from config). */
  tls?: ConnectionOptions;
}

interface Lease {
  conn: UpstreamConnection;
  reused: boolean;
}

interface Waiter {
  resolve(lease: Lease): void;
  reject(err: unknown): void;
}

/** FIFO without Array#shift's O(n) on every take. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

export class UpstreamPool {
  /** Date.now() of the last message the upstream accepted. */
  lastSuccessAt: number | null = null;

  private readonly settings: ConnectionSettings;
  private readonly max: number;
  private readonly maxMessages: number;
  private readonly idleTimeoutMs: number;
  private readonly logger: UpstreamPoolOptions['logger'];
  /** Sessions counted against config.pool: opening, idle or busy. */
  private slots = 0;
  /** Idle sessions, most recently used last. */
  private readonly idle: UpstreamConnection[] = [];
  private readonly waiters = new Fifo<Waiter>();
  /** Every session whose socket is not yet closed, including ones saying QUIT. */
  private readonly live = new Set<UpstreamConnection>();
  private readonly sweeper: NodeJS.Timeout;
  private closing = false;
  private drained: (() => void) | undefined;
  private closed: Promise<void> | undefined;

  constructor(config: UpstreamConfig, options: UpstreamPoolOptions = {}) {
    this.settings = {
      config,
      connectTimeoutMs: options.connectTimeoutMs ?? config.connectTimeoutSeconds * 1000,
      dataTimeoutMs: options.dataTimeoutMs ?? config.dataTimeoutSeconds * 1000,
      // upstream.tls (reads the CA file: a ConfigError here stops start-up), then a test's overrides.
      tls: { ...upstreamTlsOptions(config), ...options.tls },
    };
    this.max = config.pool;
    this.maxMessages = options.maxMessagesPerConnection ?? 1000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.logger = options.logger;
    this.sweeper = setInterval(() => this.closeIdleOlderThan(this.idleTimeoutMs), Math.max(50, this.idleTimeoutMs / 2));
    this.sweeper.unref();
  }

  /**
   * Relays one message. Resolves when the upstream accepted it for at least one
   * recipient; rejects with an UpstreamError when nothing was delivered.
   */
  async send(envelope: UpstreamEnvelope, message: Buffer | readonly Buffer[], signal?: AbortSignal): Promise<UpstreamDelivery> {
    const started = performance.now();
    if (signal?.aborted) throw cancelledError('envelope', abortReason(signal));
    let { conn, reused } = await this.acquire();
    for (let attempt = 0; ; attempt++) {
      let info: SendInfo;
      // Cancelled while waiting for a session (or before the retry): the session goes back unused.
      if (signal?.aborted) {
        this.release(conn);
        throw cancelledError('envelope', abortReason(signal));
      }
      try {
        info = await this.transact(conn, envelope, message, signal);
      } catch (err) {
        if (err instanceof UpstreamError && err.kind === 'cancelled') {
          // Its session was ended to abandon the transaction: the slot is free again.
          this.afterFailure(conn);
          throw err;
        }
        const e = err instanceof UpstreamError ? err : new UpstreamError({ kind: 'dropped', stage: 'data', message: String(err), cause: err });
        if (attempt === 0 && reused && isStaleSessionFailure(e)) {
          this.logger?.warn(
            { upstream: this.where(), kind: e.kind, code: e.code, responseCode: e.responseCode },
            'reused upstream connection failed before the message was sent; retrying once on a new connection',
          );
          this.discard(conn, false);
          // Same slot, fresh session.
          try {
            conn = await this.openInSlot();
          } catch (openErr) {
            this.openFailed(openErr);
            throw openErr;
          }
          reused = false;
          continue;
        }
        if (e.possiblyDelivered) {
          this.logger?.warn(
            { upstream: this.where(), kind: e.kind, stage: e.stage, code: e.code },
            'upstream connection lost after the message was sent: possible duplicate if the mailer retries',
          );
        }
        this.afterFailure(conn);
        throw e;
      }
      conn.messages++;
      this.lastSuccessAt = Date.now();
      this.release(conn);
      if (signal?.aborted) {
        // The dot was out before the cancel: the upstream took a message its mailer was told to retry.
        this.logger?.warn(
          { upstream: this.where(), reason: abortReason(signal) },
          'upstream accepted a message after its transaction was cancelled (the final dot was already sent): possibly delivered twice if the mailer retries',
        );
      }
      return {
        response: info.response,
        accepted: info.accepted,
        rejected: info.rejectedErrors && info.rejectedErrors.length ? rejectedRecipientsOf(info.rejectedErrors) : [],
        durationMs: performance.now() - started,
        reusedConnection: reused,
      };
    }
  }

  /**
   * Readiness: resolves when the upstream greets, EHLOs and accepts our login (an
   * idle session is probed with RSET; a new one is opened if there is none).
   */
  async verify(): Promise<void> {
    if (this.closing) throw closedError();
    const idle = this.takeIdle();
    if (idle) {
      if (await idle.reset()) {
        this.release(idle);
        return;
      }
      this.discard(idle, true);
    }
    if (this.slots < this.max) {
      this.slots++;
      this.release(
        await this.openInSlot().catch((err: unknown) => {
          this.openFailed(err);
          throw err;
        }),
      );
      return;
    }
    // Every session is busy: a recent success is proof enough, else probe outside the pool.
    if (this.lastSuccessAt !== null && Date.now() - this.lastSuccessAt < 30_000) return;
    const probe = await UpstreamConnection.open(this.settings);
    probe.quit();
  }

  /**
   * Stops taking new messages, lets messages in flight and already queued finish,
   * QUITs idle sessions, and after graceMs (default: the data timeout) destroys
   * whatever is still open. Resolves when every socket is closed.
   */
  close(graceMs: number = this.settings.dataTimeoutMs): Promise<void> {
    if (this.closed) return this.closed;
    this.closing = true;
    clearInterval(this.sweeper);
    this.closeIdleOlderThan(-1);
    this.closed = new Promise<void>((resolve) => {
      this.drained = resolve;
    });
    const force = setTimeout(() => {
      for (let w = this.waiters.shift(); w; w = this.waiters.shift()) w.reject(closedError());
      // Their sends fail as dropped, at the stage they had reached.
      for (const c of this.live) c.destroy();
    }, graceMs);
    force.unref();
    void this.closed.then(() => clearTimeout(force));
    this.checkDrained();
    return this.closed;
  }

  // ---- internals ----

  private transact(
    conn: UpstreamConnection,
    envelope: UpstreamEnvelope,
    message: Buffer | readonly Buffer[],
    signal: AbortSignal | undefined,
  ): Promise<SendInfo> {
    if (envelope.smtputf8 && conn.supports('SMTPUTF8') === false) {
      return Promise.reject(
        new UpstreamError({
          kind: 'permanent',
          stage: 'envelope',
          responseCode: 553,
          response: '553 5.6.7 The upstream relay does not support SMTPUTF8',
          message: 'upstream does not offer SMTPUTF8',
        }),
      );
    }
    // Never sent as if it were 7-bit: an upstream without 8BITMIME gets no 8-bit
    // data (the byte scan runs only for such an upstream).
    if (conn.supports('8BITMIME') === false && (envelope.eightBitMime || hasEightBitData(message))) {
      return Promise.reject(
        refusedHere(
          554,
          '554 5.6.3 The upstream relay does not accept 8-bit data (no 8BITMIME); send the message 7-bit encoded (quoted-printable or base64)',
          'upstream does not offer 8BITMIME',
        ),
      );
    }
    if (envelope.requireTLS && !(conn.verifiedTls && conn.supports('REQUIRETLS') === true)) {
      return Promise.reject(
        refusedHere(
          550,
          '550 5.7.30 REQUIRETLS: the upstream relay cannot be reached over verified TLS with REQUIRETLS; the message was not sent',
          'REQUIRETLS cannot be met by the upstream',
        ),
      );
    }
    // nodemailer writes its bookkeeping onto the envelope object: a fresh one per attempt.
    const upstreamEnvelope: SMTPConnection.Envelope & Record<string, unknown> = {
      from: envelope.mailFrom,
      to: envelope.rcptTo as string[],
      size: envelope.size ?? byteLength(message),
      // Undefined: no mailer declared anything (a release of a stored message): declare BODY=8BITMIME when the bytes need it.
      use8BitMime: envelope.eightBitMime ?? hasEightBitData(message),
    };
    if (envelope.requireTLS) upstreamEnvelope['requireTLSExtensionEnabled'] = true;
    if (envelope.dsn && (envelope.dsn.ret || envelope.dsn.envid)) {
      upstreamEnvelope.dsn = { ...(envelope.dsn.ret ? { ret: envelope.dsn.ret } : {}), ...(envelope.dsn.envid ? { envid: envelope.dsn.envid } : {}) };
    }
    if (envelope.recipientParams?.size) upstreamEnvelope[RECIPIENT_PARAMS] = envelope.recipientParams;
    return conn.send(upstreamEnvelope, message, signal);
  }

  private acquire(): Promise<Lease> | Lease {
    if (this.closing) throw closedError();
    const conn = this.takeIdle();
    if (conn) return { conn, reused: true };
    if (this.slots < this.max) {
      this.slots++;
      return this.openInSlot().then(
        (c) => ({ conn: c, reused: false }),
        (err: unknown) => {
          this.openFailed(err);
          throw err;
        },
      );
    }
    return new Promise<Lease>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private takeIdle(): UpstreamConnection | undefined {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (c.isAlive) {
        c.state = 'busy';
        return c;
      }
      this.discard(c, true); // not expected: 'end' removes dead sessions from the idle list
    }
    return undefined;
  }

  /** Opens a session for a slot the caller already counted. */
  private async openInSlot(): Promise<UpstreamConnection> {
    const conn = await UpstreamConnection.open(this.settings);
    this.live.add(conn);
    conn.onEnd = this.onConnectionEnd;
    if (!conn.isAlive) {
      // Closed between the handshake and here (e.g. an immediate 421).
      this.live.delete(conn);
      throw new UpstreamError({ kind: 'connect', stage: 'connect', message: 'upstream closed the connection after the handshake' });
    }
    conn.state = 'busy';
    conn.lastUsedAt = performance.now();
    return conn;
  }

  private readonly onConnectionEnd = (conn: UpstreamConnection): void => {
    this.live.delete(conn);
    if (conn.state === 'idle') {
      // The upstream closed an idle session (idle timeout, 421): forget it.
      const i = this.idle.indexOf(conn);
      if (i >= 0) this.idle.splice(i, 1);
      conn.state = 'closed';
      this.freeSlot();
    }
    // A busy session's owner sees the failure and releases the slot itself.
    this.checkDrained();
  };

  /** Hands a healthy session to the next waiter, or parks it. */
  private release(conn: UpstreamConnection): void {
    if (!conn.isAlive || conn.messages >= this.maxMessages) {
      this.discard(conn, true);
      return;
    }
    conn.lastUsedAt = performance.now();
    const w = this.waiters.shift();
    if (w) {
      w.resolve({ conn, reused: true });
      return;
    }
    if (this.closing) {
      this.discard(conn, true);
      return;
    }
    conn.state = 'idle';
    this.idle.push(conn);
  }

  /** After a failed transaction: RSET in the background, then reuse or discard. */
  private afterFailure(conn: UpstreamConnection): void {
    if (!conn.isAlive) {
      this.discard(conn, true);
      return;
    }
    void conn.reset().then((ok) => (ok ? this.release(conn) : this.discard(conn, true)));
  }

  /** Closes a session we no longer want (QUIT if it is still up); optionally frees its slot. */
  private discard(conn: UpstreamConnection, freeSlot: boolean): void {
    if (conn.state === 'closed') return;
    conn.state = 'closed';
    if (conn.isAlive) conn.quit();
    if (freeSlot) this.freeSlot();
  }

  /** A slot became free: give it to the first waiter (who opens a new session) if any. */
  private freeSlot(): void {
    this.slots--;
    const w = this.waiters.shift();
    if (w) {
      this.slots++;
      this.openInSlot().then(
        (conn) => w.resolve({ conn, reused: false }),
        (err: unknown) => {
          w.reject(err);
          this.openFailed(err);
        },
      );
      return;
    }
    this.checkDrained();
  }

  /**
   * A new session could not be opened. If no session is open at all the upstream
   * looks down: fail the queued callers now (451 4.4.1, fail fast) instead of
   * letting each of them wait for a connect timeout of its own.
   */
  private openFailed(err: unknown): void {
    if (this.live.size === 0) {
      for (let w = this.waiters.shift(); w; w = this.waiters.shift()) w.reject(err);
    }
    this.freeSlot();
  }

  private closeIdleOlderThan(ms: number): void {
    const cutoff = performance.now() - ms;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i];
      if (c && (ms < 0 || c.lastUsedAt < cutoff)) {
        this.idle.splice(i, 1);
        this.discard(c, true);
      }
    }
  }

  private checkDrained(): void {
    if (this.drained && this.live.size === 0 && this.waiters.length === 0 && this.slots === 0) {
      const done = this.drained;
      this.drained = undefined;
      done();
    }
  }

  private where(): string {
    return `${this.settings.config.host}:${this.settings.config.port}`;
  }
}

/**
 * A reused session that failed before the message was sent, in a way that says
 * "this session is dead or out of step", not "the upstream refused this message".
 */
function isStaleSessionFailure(e: UpstreamError): boolean {
  if (e.stage === 'data') return false;
  if (e.kind === 'dropped' || e.kind === 'timeout') return true;
  return e.responseCode === 421 || e.responseCode === 503;
}

function closedError(): UpstreamError {
  return new UpstreamError({ kind: 'connect', stage: 'connect', message: 'upstream pool is closed' });
}

function byteLength(message: Buffer | readonly Buffer[]): number {
  if (Buffer.isBuffer(message)) return message.length;
  let n = 0;
  for (const chunk of message) n += chunk.length;
  return n;
}
