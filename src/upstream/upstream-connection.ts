// One SMTP session to the upstream relay: nodemailer's SMTPConnection wrapped once,
// with promises, a deadline on every operation and an exact record of how far a
// transaction got (was the message already being sent when it failed?).
//
// Things about nodemailer's SMTPConnection (10.6.x) this wrapper exists for:
// - It emits 'error' (which must have a listener, or it throws) and then 'end',
//   and only then calls the pending send() callback with the same error; errors
//   while connecting arrive only as 'error' (the connect callback is for success
//   and a silent close before the greeting).
// - close() forgets a send in flight without calling its callback, so whoever
//   closes a busy connection (a deadline, shutdown) must settle it.
// - Its socket timeout is an inactivity timer, also while idle, and there is no
//   deadline on AUTH or on the reply to the final dot: we keep our own.
// - Nothing public tells whether the message was already being sent when the
//   connection failed (ECONNECTION looks the same before and after DATA). We wrap
//   the instance's _createSendStream (called right after the 354) to know; if a
//   future version drops it, every connection-level failure counts as "data"
//   (possibly delivered, never retried) — the safe side.
// - A transaction is cancelled (its AbortSignal fires) by ending the session,
//   never by letting the message finish: an upstream that loses the connection
//   between MAIL FROM and the final dot discards the transaction (RFC 5321
//   §4.1.1.4). The final dot is written by the data stream's _flush, which we
//   wrap: once it has run the message cannot be taken back, and the send is left
//   to finish so its reply says whether the upstream took it.

import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { Readable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import type { UpstreamConfig } from '../config/schema.js';
import { installFastDotStuffing } from './fast-dot-stuffing.js';
import { installRecipientParams } from './recipient-params.js';
import { abortReason, cancelledError, classifyUpstreamFailure, UpstreamError, type UpstreamStage } from './upstream-error.js';

export interface ConnectionSettings {
  readonly config: UpstreamConfig;
  readonly connectTimeoutMs: number;
  readonly dataTimeoutMs: number;
  readonly tls?: ConnectionOptions | undefined;
}

export type SendInfo = SMTPConnection.SentMessageInfo;

interface Pending {
  resolve(value: unknown): void;
  reject(err: UpstreamError): void;
  stage: UpstreamStage;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

let nextId = 1;

export class UpstreamConnection {
  readonly id = nextId++;
  /** Owned by the pool: opening → idle ⇄ busy → closed. */
  state: 'opening' | 'idle' | 'busy' | 'closed' = 'opening';
  /** Messages accepted over this connection. */
  messages = 0;
  lastUsedAt = 0;
  /** Called once when the session has ended, whoever ended it. */
  onEnd: ((c: UpstreamConnection) => void) | undefined;

  private readonly smtp: SMTPConnection;
  private alive = true;
  private lastError: unknown;
  private pending: Pending | null = null;
  private dataStarted = false;
  /** The final dot of the current transaction was handed to the socket: past this, cancelling cannot stop it. */
  private dotWritten = false;
  /** The signal of the transaction in flight, and what its abort does. */
  private cancel: { readonly signal: AbortSignal; readonly onAbort: () => void } | null = null;
  private readonly tracksData: boolean;
  private dataTimer: NodeJS.Timeout | undefined;
  private dataTimerArmed = false;
  private opTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly settings: ConnectionSettings) {
    const { config } = settings;
    this.smtp = new SMTPConnection({
      host: config.host,
      port: config.port,
      secure: config.secure,
      requireTLS: config.requireTLS,
      ignoreTLS: false,
      opportunisticTLS: false,
      name: config.name,
      connectionTimeout: settings.connectTimeoutMs,
      greetingTimeout: settings.connectTimeoutMs,
      // A backstop only: our own deadlines end a stuck operation first.
      socketTimeout: settings.dataTimeoutMs + settings.connectTimeoutMs,
      tls: { ...settings.tls, rejectUnauthorized: config.rejectUnauthorized },
      logger: false,
    });
    this.smtp.on('error', (err: unknown) => {
      this.lastError = err;
    });
    this.smtp.once('end', () => this.handleEnd());
    installRecipientParams(this.smtp);

    const internals = this.smtp as unknown as { _createSendStream?: (...args: unknown[]) => unknown };
    const createSendStream = internals._createSendStream;
    this.tracksData = typeof createSendStream === 'function';
    if (typeof createSendStream === 'function') {
      internals._createSendStream = (...args: unknown[]) => {
        this.dataStarted = true;
        // The message and the reply to its dot get a full data window of their own.
        if (this.dataTimerArmed) this.dataTimer?.refresh();
        const stream = createSendStream.apply(this.smtp, args) as Parameters<typeof installFastDotStuffing>[0];
        installFastDotStuffing(stream);
        const writeDot = stream._flush.bind(stream);
        stream._flush = (done) => {
          // The last moment the transaction can still be abandoned without the upstream having it.
          if (this.cancel?.signal.aborted) {
            this.abandon();
            return done();
          }
          this.dotWritten = true;
          writeDot(done);
        };
        return stream;
      };
    }
  }

  /** Opens a session: TCP or TLS, greeting, EHLO, STARTTLS, AUTH. Rejects with an UpstreamError (stage 'connect'). */
  static open(settings: ConnectionSettings): Promise<UpstreamConnection> {
    const c = new UpstreamConnection(settings);
    return c.start().then(() => c);
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** The session runs over TLS whose certificate was verified (RFC 8689 REQUIRETLS needs exactly that). */
  get verifiedTls(): boolean {
    return this.smtp.secure === true && this.settings.config.rejectUnauthorized !== false;
  }

  /** Whether the upstream announced an EHLO extension; undefined if that cannot be read. */
  supports(extension: string): boolean | undefined {
    const list = (this.smtp as unknown as { _supportedExtensions?: unknown })._supportedExtensions;
    return Array.isArray(list) ? list.includes(extension) : undefined;
  }

  private start(): Promise<void> {
    return this.begin<void>('connect', this.settings.connectTimeoutMs, () => {
      this.smtp.connect((err) => {
        if (err) return this.fail(err);
        const auth = this.settings.config.auth;
        if (!auth) return this.settle(null, undefined);
        if (!this.smtp.secure && !LOOPBACK.test(this.settings.config.host)) {
          return this.fail(
            new UpstreamError({
              kind: 'tls',
              stage: 'connect',
              message: 'refusing to send upstream credentials over a connection without TLS',
            }),
          );
        }
        this.smtp.login({ user: auth.user, pass: auth.pass }, (loginErr) => {
          if (loginErr) return this.fail(loginErr);
          this.settle(null, undefined);
        });
      });
    });
  }

  /**
   * One transaction. Rejects with an UpstreamError whose stage says how far it got.
   * When `signal` fires before the final dot was written the session is ended and
   * the send rejects as kind 'cancelled'; after the dot it runs to its reply.
   */
  send(envelope: SMTPConnection.Envelope, message: Buffer | readonly Buffer[], signal?: AbortSignal): Promise<SendInfo> {
    this.dataStarted = false;
    this.dotWritten = false;
    if (signal?.aborted) return Promise.reject(cancelledError('envelope', abortReason(signal)));
    const sent = this.begin<SendInfo>('envelope', 'data', () => {
      if (signal) {
        const onAbort = () => {
          if (!this.dotWritten) this.abandon();
        };
        this.cancel = { signal, onAbort };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      // A chunk list (a large message, or a rewritten head before a shared body) is
      // streamed as it is: a new stream for every attempt, never one big copy.
      const body = Buffer.isBuffer(message) ? message : message.length === 1 ? message[0]! : Readable.from(message, { objectMode: false });
      this.smtp.send(envelope, body, this.onSendDone);
    });
    return signal ? sent.finally(() => this.forgetSignal()) : sent;
  }

  /** Ends the session in the middle of a cancelled transaction, before its dot: the upstream discards it. */
  private abandon(): void {
    const signal = this.cancel?.signal;
    // Stage as reached, for the log; 'cancelled' is never "possibly delivered" (no dot went out).
    const stage: UpstreamStage = this.dataStarted ? 'data' : 'envelope';
    // nodemailer's close() ends the socket politely (flushing what is buffered); a
    // reset afterwards drops whatever part of the message is still queued, so the
    // upstream sees the session break at once.
    const socket = (this.smtp as unknown as { _socket?: { destroy?: () => void } | false })._socket;
    this.destroy(cancelledError(stage, signal ? abortReason(signal) : 'aborted'));
    if (socket && typeof socket.destroy === 'function') socket.destroy();
    // Unusable from now on, whenever nodemailer reports the end.
    this.alive = false;
  }

  private forgetSignal(): void {
    if (!this.cancel) return;
    this.cancel.signal.removeEventListener('abort', this.cancel.onAbort);
    this.cancel = null;
  }

  private readonly onSendDone = (err: SMTPConnection.SMTPError | null, info: SendInfo): void => {
    if (err) this.fail(err);
    else this.settle(null, info);
  };

  /** RSET after a failed transaction. Resolves false (never rejects) when the session is not usable. */
  reset(): Promise<boolean> {
    if (!this.alive) return Promise.resolve(false);
    return this.begin<boolean>('envelope', this.settings.connectTimeoutMs, () => {
      this.smtp.reset((err) => (err ? this.fail(err) : this.settle(null, true)));
    }).catch(() => false);
  }

  /** Polite goodbye; the socket is destroyed if the upstream does not answer in time. */
  quit(): void {
    if (!this.alive) return;
    this.smtp.quit();
    const t = setTimeout(() => this.destroy(), this.settings.connectTimeoutMs);
    t.unref();
  }

  /** Ends the session now; an operation in flight fails as dropped (or timed out). */
  destroy(reason?: UpstreamError): void {
    if (reason) this.settle(reason);
    this.smtp.close();
  }

  private begin<T>(stage: UpstreamStage, timeout: number | 'data', run: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.alive) {
        reject(new UpstreamError({ kind: 'dropped', stage, message: 'upstream connection is closed' }));
        return;
      }
      this.pending = { resolve, reject, stage };
      if (timeout === 'data') {
        this.dataTimerArmed = true;
        if (this.dataTimer) this.dataTimer.refresh();
        else {
          this.dataTimer = setTimeout(this.onDataTimer, this.settings.dataTimeoutMs);
          this.dataTimer.unref();
        }
      } else {
        this.opTimer = setTimeout(() => this.timedOut(timeout), timeout);
      }
      try {
        run();
      } catch (err) {
        this.fail(err);
      }
    });
  }

  private readonly onDataTimer = (): void => {
    if (this.dataTimerArmed) this.timedOut(this.settings.dataTimeoutMs);
  };

  private timedOut(ms: number): void {
    const p = this.pending;
    if (!p) return;
    this.destroy(
      new UpstreamError({
        kind: 'timeout',
        stage: this.currentStage(p),
        code: 'ETIMEDOUT',
        message: `upstream did not answer within ${ms} ms`,
      }),
    );
  }

  private currentStage(p: Pending): UpstreamStage {
    if (p.stage === 'connect') return 'connect';
    // Without the hook we cannot tell; assume the message may have been sent.
    return this.dataStarted || !this.tracksData ? 'data' : 'envelope';
  }

  private fail(err: unknown): void {
    const p = this.pending;
    if (!p) return;
    let e = classifyUpstreamFailure(err, this.currentStage(p));
    if (p.stage === 'connect' && e.kind === 'connect' && this.smtp.upgrading) {
      // The socket failed in the middle of STARTTLS.
      e = new UpstreamError({ kind: 'tls', stage: 'connect', message: e.message, code: e.code, cause: err });
    }
    this.settle(e);
  }

  private settle(err: UpstreamError | null, value?: unknown): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.dataTimerArmed = false;
    if (this.opTimer) {
      clearTimeout(this.opTimer);
      this.opTimer = undefined;
    }
    if (err) p.reject(err);
    else p.resolve(value);
  }

  private handleEnd(): void {
    this.alive = false;
    if (this.dataTimer) clearTimeout(this.dataTimer);
    if (this.pending) {
      // nodemailer emits 'end' before it hands the real error to the send callback
      // (synchronously after); wait for that, then fall back to the last 'error'.
      queueMicrotask(() => {
        if (this.pending) this.fail(this.lastError ?? Object.assign(new Error('upstream closed the connection'), { code: 'ECONNECTION' }));
      });
    }
    this.onEnd?.(this);
  }
}
