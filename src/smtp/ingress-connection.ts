// The overrides of SMTPConnection (smtp-server 3.21.6) that the ingress needs and
// no public option or callback gives. A subclass, so only mail-guard's own
// listeners get them; other smtp-server instances in the process (a test's
// upstream) keep the library's behaviour. TypeScript checks each `override`
// against smtp-server's declarations, and test/unit/smtp/smtp-server-internals.test.ts
// checks at run time that each method is still there and still does what is
// overridden here.
//
// - send(): ENHANCEDSTATUSCODES is offered (RFC 2034), so smtp-server puts the
//   enhanced code of its table for the reply code in front of every reply, also
//   before err.message of a callback error: "550 5.1.1 5.7.1 …". mail-guard's
//   replies carry their own code (reply/replies.ts), so a text that starts with one
//   is sent with context false (no code added). The only alternative option,
//   hideENHANCEDSTATUSCODES, also stops offering the extension.
//   It also coalesces the replies of one tick into one socket write: smtp-server
//   writes every reply on its own, so a mailer that pipelines MAIL, RCPT and DATA
//   in one segment got three writes (three syscalls, three segments) where one
//   does. The first reply of a tick corks the socket and a process.nextTick
//   uncorks it, so no reply waits past the current tick and their order is the
//   order of send(). A 220 (the greeting, or STARTTLS just before the TLS
//   handshake takes the socket over) flushes at once; smtp-server's close() ends
//   the socket with end(), which flushes what is corked first.
// - handler_EHLO(): AUTH is only accepted over TLS, so a plaintext EHLO must not
//   offer it (RFC 4954 section 4). There is no hideAUTH; a per-session
//   session.disabledCommands: ['AUTH'] would hide the line but also turn AUTH into
//   "500 command not recognized" instead of 538 5.7.11, and switch off smtp-server's
//   own "530 authentication required" for MAIL/RCPT/DATA and its count of
//   unauthenticated commands before TLS. So the AUTH line is taken out of the one
//   reply EHLO sends, before TLS only.
// - handler_AUTH(): a gate before smtp-server reads any credentials, which onAuth
//   cannot be (it runs once the client has sent them): a locked-out client gets 421
//   at AUTH LOGIN instead of being asked for a password that is not checked, and
//   before TLS the answer is mail-guard's 538 5.7.11 (smtp-server's own check
//   answers "538 5.7.0 Error: Must issue a STARTTLS command first").
// - _resetSession(): there is no onReset callback. RSET, EHLO/HELO, XCLIENT,
//   XFORWARD, STARTTLS and an answered DATA all end the transaction here, which is
//   where the ingress learns that the transaction's deadline is over.
// - _createParser(): two complete transactions in one segment leave the third
//   command unanswered. After an answered DATA the connection calls
//   parser.continue(), which runs the saved continuation (parse what followed the
//   dot) and only then clears it (SMTPStream#continue):
//
//       continue() { if (typeof cb === 'function') { this._continueCallback(); this._continueCallback = false; } … }
//
//   When what followed the dot holds a whole second transaction, the continuation
//   parses MAIL, RCPT, DATA and that message synchronously, and the second
//   message's end (SMTPStream#_endDataMode) stores its own continuation (the rest
//   of the segment: QUIT) in _continueCallback. continue() then overwrites it with
//   false, so the second answer's continue() finds nothing to run and QUIT waits
//   for the socket timeout. Every parser of the connection (STARTTLS makes a new
//   one) clears before running instead.

import type { Socket } from 'node:net';
import type { SMTPServer } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import type { SmtpReply } from '../reply/replies.js';

const ENHANCED_CODE_FIRST = /^[245]\.\d{1,3}\.\d{1,3}(?: |$)/;
const AUTH_LINE = /^AUTH\b/i;
/** Replies that must reach the wire before anything else happens on the socket (STARTTLS hands it to TLS right after its 220). */
const FLUSH_AT_ONCE = 220;

const uncork = (socket: Socket): void => {
  // end() may have flushed and reset the cork already; uncork() on an uncorked socket does nothing.
  if (socket.writableCorked > 0) socket.uncork();
};

export interface IngressConnectionHooks {
  /** Whether AUTH may start at all: a refusal is sent as is (a 421 also closes), null lets smtp-server's AUTH run. */
  readonly authGate: ((secure: boolean, remoteAddress: string) => SmtpReply | null) | null;
  /** The connection's mail transaction (if any) just ended without an answer to DATA, or after it. */
  readonly onReset: (id: string) => void;
}

export class IngressConnection extends SMTPConnection {
  private readonly hooks: IngressConnectionHooks;
  /** Set while a plaintext EHLO is answered. */
  private withoutAuthLine = false;
  /** The socket corked for the replies of this tick, if any. */
  private corked: Socket | null = null;

  constructor(server: SMTPServer, socket: Socket, options: SMTPConnectionOptions | null | undefined, hooks: IngressConnectionHooks) {
    super(server, socket, options);
    this.hooks = hooks;
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    if (this.withoutAuthLine && Array.isArray(data)) data = data.filter((line, i) => i === 0 || !AUTH_LINE.test(line));
    // charCodeAt(1) === '.' first: most lines are smtp-server's own and need no regex.
    const ownCode = typeof data === 'string' && data.charCodeAt(1) === 0x2e && ENHANCED_CODE_FIRST.test(data);
    const socket = this._socket;
    if (code !== FLUSH_AT_ONCE && this.corked !== socket && socket.writable && !this._upgrading) {
      socket.cork();
      this.corked = socket;
      process.nextTick(this.uncorkTick);
    }
    super.send(code, data, ownCode ? false : context);
    if (code === FLUSH_AT_ONCE && this.corked) this.uncorkTick();
  }

  private readonly uncorkTick = (): void => {
    const socket = this.corked;
    this.corked = null;
    if (socket) uncork(socket);
  };

  override handler_EHLO(command: Buffer, callback: () => void): void {
    if (this.secure) return super.handler_EHLO(command, callback);
    this.withoutAuthLine = true;
    try {
      super.handler_EHLO(command, callback);
    } finally {
      this.withoutAuthLine = false;
    }
  }

  override handler_AUTH(command: Buffer, callback: () => void): void {
    const refusal = this.hooks.authGate?.(this.secure, this.remoteAddress) ?? null;
    if (!refusal) return super.handler_AUTH(command, callback);
    this.send(refusal.code, `${refusal.enhanced} ${refusal.text}`);
    callback();
  }

  override _resetSession(): void {
    // hooks is unset only while the base constructor runs, which resets nothing in 3.21.6.
    this.hooks?.onReset(this.id);
    super._resetSession();
  }

  override _createParser(): SMTPStream {
    // Called by the base constructor too: uses no field of this class.
    const parser = super._createParser();
    parser.continue = function continueAfterData(this: SMTPStream): void {
      const next = this._continueCallback;
      if (typeof next === 'function') {
        this._continueCallback = false;
        next();
      } else {
        // The stream has not ended yet: run the continuation as soon as it is stored.
        this._continueCallback = true;
      }
    };
    return parser;
  }
}
