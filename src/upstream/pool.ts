// The upstream relay client: a bounded pool of persistent SMTP sessions.
//
// - Sessions (opening, idle or busy) up to the cap of pool-sizing.ts (upstream.pool:
//   a number, or auto); callers beyond it wait in FIFO order (waiter-queue.ts). A
//   released session goes straight to the next waiter.
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

import { performance } from 'node:perf_hooks';
import type { ConnectionOptions } from 'node:tls';
import type { UpstreamConfig } from '../config/schema.js';
import { UpstreamConnection, type ConnectionSettings, type SendInfo } from './upstream-connection.js';
import { abortReason, cancelledError, rejectedRecipientsOf, UpstreamError, type RejectedRecipient } from './upstream-error.js';
import { upstreamTlsOptions } from './upstream-tls.js';
import { nodemailerEnvelope, refusalFor, type UpstreamEnvelope } from './upstream-envelope.js';
import { PoolSizing } from './pool-sizing.js';
import { WaiterQueue, type Waiter } from './waiter-queue.js';

export type { UpstreamEnvelope } from './upstream-envelope.js';

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
  /** A transaction that had to wait for a session got one after this many seconds (metrics). */
  onWait?: (seconds: number) => void;
}

interface Lease {
  conn: UpstreamConnection;
  reused: boolean;
  /** performance.now() when its caller started waiting; absent when it did not wait. */
  waitedSince?: number;
}

export class UpstreamPool {
  /** Date.now() of the last message the upstream accepted. */
  lastSuccessAt: number | null = null;

  private readonly settings: ConnectionSettings;
  private readonly sizing: PoolSizing;
  private readonly maxMessages: number;
  private readonly idleTimeoutMs: number;
  private readonly logger: UpstreamPoolOptions['logger'];
  /** Sessions counted against the cap: opening, idle or busy. */
  private slots = 0;
  /** Idle sessions, most recently used last. */
  private readonly idle: UpstreamConnection[] = [];
  private readonly waiters = new WaiterQueue<Lease>();
  private readonly onWait: ((seconds: number) => void) | undefined;
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
    this.sizing = new PoolSizing(config.pool);
    this.onWait = options.onWait;
    this.maxMessages = options.maxMessagesPerConnection ?? 1000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.logger = options.logger;
    this.sweeper = setInterval(() => this.closeIdleOlderThan(this.idleTimeoutMs), Math.max(50, this.idleTimeoutMs / 2));
    this.sweeper.unref();
  }

  /** Sessions open or opening now. */
  get sessions(): number {
    return this.slots;
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
    if (this.slots < this.sizing.cap()) {
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
      this.waiters.rejectAll(closedError());
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
    const refusal = refusalFor(conn, envelope, message);
    if (refusal) return Promise.reject(refusal);
    return conn.send(nodemailerEnvelope(envelope, message), message, signal);
  }

  private acquire(): Promise<Lease> | Lease {
    if (this.closing) throw closedError();
    const conn = this.takeIdle();
    if (conn) return { conn, reused: true };
    if (this.slots < this.sizing.cap()) {
      this.slots++;
      return this.openInSlot().then(
        (c) => ({ conn: c, reused: false }),
        (err: unknown) => {
          // Auto mode: the upstream allows no more sessions than the others counted; wait for one of them.
          if (this.sizing.refusedWith(this.slots - 1)) {
            this.slots--;
            return this.waitForSession();
          }
          this.openFailed(err);
          throw err;
        },
      );
    }
    return this.waitForSession();
  }

  private waitForSession(): Promise<Lease> {
    const lease = this.waiters.wait();
    return this.onWait ? lease.then(this.timeWait) : lease;
  }

  private readonly timeWait = (lease: Lease): Lease => {
    if (lease.waitedSince !== undefined) this.onWait?.((performance.now() - lease.waitedSince) / 1000);
    return lease;
  };

  private grant(w: Waiter<Lease>, conn: UpstreamConnection, reused: boolean): void {
    w.resolve({ conn, reused, waitedSince: w.since });
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
      this.grant(w, conn, true);
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

  /** A slot became free: give it to the first waiter (who opens a new session) if any and the cap allows. */
  private freeSlot(): void {
    this.slots--;
    const w = this.slots < this.sizing.cap() ? this.waiters.shift() : undefined;
    if (w) {
      this.slots++;
      this.openInSlot().then(
        (conn) => this.grant(w, conn, false),
        (err: unknown) => {
          if (this.sizing.refusedWith(this.slots - 1)) {
            // Auto mode learned the upstream's limit: the waiter keeps its turn for the next released session.
            this.waiters.putBack(w);
            this.slots--;
            this.checkDrained();
            return;
          }
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
    if (this.live.size === 0) this.waiters.rejectAll(err);
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
