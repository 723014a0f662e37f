import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { ConfigError } from '../config/load.js';
import type { MailGuardConfig } from '../config/schema.js';
import { makeDomainClassifier, normaliseDomain } from '../analysis/domain.js';
import { makeCidrMatcher } from '../net/cidr.js';
import { listenOn } from '../net/listen.js';
import type { EsmtpParams } from '../policy/verdict.js';
import { ConnectionLimiter } from './connection-limiter.js';
import { esmtpParamsOf } from './esmtp-params.js';
import { TransactionCancellation } from '../upstream/cancellation.js';
import { replies, SmtpReplyError, type SmtpReply } from './replies.js';
import { AuthFailureLimiter, authReplies, createAuthenticator, DEFAULT_AUTH_LIMITS } from './smtp-auth.js';
import { watchTransaction, type ConnectionWithTransaction } from './transaction-hooks.js';

export interface ReceivedTransaction {
  /** The message as smtp-server delivered it (dot-unstuffed), in its chunks: never joined here. */
  readonly chunks: Buffer[];
  readonly size: number;
  readonly session: SMTPServerSession;
  readonly mailFrom: string;
  readonly rcptTo: string[];
  /** BODY, SMTPUTF8, REQUIRETLS, DSN: what travels on to the upstream. */
  readonly esmtp: EsmtpParams;
  /** When DATA began (performance.now()), for the receive timing. */
  readonly dataStartedAt: number;
  /**
   * Fires when the transaction is over for the mailer before the work is: its
   * deadline (the mailer was told 421), its connection closed, or its answer was
   * given. Whatever of it has not gone upstream yet must not go.
   */
  readonly signal: AbortSignal;
}

export interface IngressHooks {
  /** Decides the final reply for one message; must not throw for expected failures. */
  onMessage(transaction: ReceivedTransaction): Promise<SmtpReply>;
  onSession?(result: 'accepted' | 'denied'): void;
  onOversized?(size: number): void;
  /** One failed credential check (wrong password, unknown user). */
  onAuthFailure?(): void;
  /** A client address just reached the failed-login limit: further AUTH from it gets 421 until failures expire. */
  onAuthLockout?(lockout: AuthLockout): void;
  /** smtp-server closed a session (its onClose); the session's per-client connection slot is free again by then. */
  onSessionClosed?(session: SMTPServerSession): void;
}

export interface AuthLockout {
  /** The client's IP address (the PROXY header's when behind a listed proxy); never a mail address. */
  readonly clientAddress: string;
  /** Failed logins within the window that locked it out. */
  readonly failures: number;
  readonly windowSeconds: number;
}

type ConnectionInternals = SMTPConnection & {
  _setListeners(done: () => void): void;
  connectionReady(): void;
  send(code: number, data?: string | string[] | null, context?: string | false): void;
  close(): void;
  handler_AUTH(command: Buffer, callback: () => void): void;
  handler_EHLO(command: Buffer, callback: () => void): void;
  id: string;
  secure: boolean;
};

const ENHANCED_CODE_FIRST = /^[245]\.\d{1,3}\.\d{1,3}(?: |$)/;

/** Decides whether an AUTH command may start at all: a refusal is sent as is (a 421 also closes). */
type AuthGate = (secure: boolean, remoteAddress: string) => SmtpReply | null;

/** State every listener (plain and implicit TLS) shares. */
interface SharedState {
  readonly live: Map<string, ConnectionInternals>;
  /** Connections refused for the per-client cap: answered 421 in onConnect. */
  readonly overLimit: Set<string>;
  readonly limiter: ConnectionLimiter;
  /**
   * Per connection id: ends its bookkeeping (live entry, per-client slot). Safe to
   * call more than once; every signal that a session is over calls it.
   */
  readonly endings: Map<string, () => void>;
}

/**
 * smtp-server holds every new connection 100 ms before the greeting to catch
 * clients that talk too soon. For allow-listed mailers that one-connection-per-
 * message is a hard cap on throughput, so they are greeted at once; anyone else
 * keeps the wait (and is then refused at connect).
 */
class GuardedSmtpServer extends SMTPServer {
  constructor(
    options: SMTPServerOptions,
    private readonly shared: SharedState,
    private readonly greetAtOnce: (address: string) => boolean,
    private readonly authGate: AuthGate | null,
  ) {
    super(options);
  }
  override connect(socket: Socket, socketOptions: Record<string, unknown>): void {
    const self = this as unknown as {
      connections: Set<unknown>;
      _onError(err: Error): void;
      _onClientConnect(data: unknown): void;
      options: { maxClients?: number };
    };
    const connection = new SMTPConnection(this, socket, socketOptions) as ConnectionInternals;
    self.connections.add(connection);
    const { live, overLimit, limiter, endings } = this.shared;
    const id = connection.id;
    live.set(id, connection);
    // remoteAddress is the PROXY header's address when the peer is a listed proxy.
    const release = limiter.tryAcquire(connection.remoteAddress);
    if (!release) overLimit.add(id);
    const forget = () => {
      live.delete(id);
      overLimit.delete(id);
      endings.delete(id);
      release?.();
    };
    endings.set(id, forget);
    // The raw socket's close covers a connection smtp-server never took over (closed
    // before its listeners were set). STARTTLS removes this listener with all the
    // others, so smtp-server's own session close (onClose) ends the connection too:
    // it runs however the session ends, upgraded, failed handshake or plain.
    socket.once('close', forget);
    // A socket that closed before we got it would never emit 'close' again.
    if (socket.destroyed && (socket as Socket & { closed?: boolean }).closed) forget();
    if (this.authGate) {
      // Checked before smtp-server reads any credentials: our own TLS rule with an
      // enhanced code, and locked-out clients are turned away without a password check.
      const gate = this.authGate;
      const handleAuth = connection.handler_AUTH;
      connection.handler_AUTH = (command, callback) => {
        const refusal = gate(connection.secure, connection.remoteAddress);
        if (!refusal) return handleAuth.call(connection, command, callback);
        connection.send(refusal.code, `${refusal.enhanced} ${refusal.text}`);
        callback();
      };
    }
    // ENHANCEDSTATUSCODES is offered (RFC 2034), so smtp-server puts an enhanced
    // code on the replies it writes itself; mail-guard's own replies carry theirs
    // already (smtp/replies.ts, with the reason that goes with it) and keep it.
    const sendReply = connection.send;
    connection.send = (code, text, context) =>
      // charCodeAt(1) === '.' first: most lines are smtp-server's own and need no regex.
      sendReply.call(connection, code, text, typeof text === 'string' && text.charCodeAt(1) === 0x2e && ENHANCED_CODE_FIRST.test(text) ? false : context);
    // AUTH is only accepted over TLS (538 before it), so a plaintext EHLO must not
    // offer it (RFC 4954 section 4): clients that see it try it and fail. smtp-server
    // has no per-session switch for the AUTH line; disabling AUTH before TLS would also
    // drop its "authentication required" check for MAIL. So the line is taken out of
    // the one reply EHLO sends, before TLS only.
    const handleEhlo = connection.handler_EHLO;
    connection.handler_EHLO = (command, callback) => {
      if (connection.secure) return handleEhlo.call(connection, command, callback);
      const send = connection.send;
      connection.send = (code, text, context) =>
        send.call(connection, code, Array.isArray(text) ? text.filter((line, i) => i === 0 || !/^AUTH\b/i.test(line)) : text, context);
      try {
        handleEhlo.call(connection, command, callback);
      } finally {
        connection.send = send;
      }
    };
    connection.on('error', (err: Error) => self._onError(err));
    connection.on('connect', (data: unknown) => self._onClientConnect(data));
    if (!this.greetAtOnce(connection.remoteAddress)) {
      connection.init();
      return;
    }
    connection._setListeners(() => {
      if (self.options.maxClients && self.connections.size > self.options.maxClients) {
        connection.send(421, '4.7.0 Too many connected clients, try again in a moment');
        return;
      }
      connection.connectionReady();
    });
  }
}

export interface Ingress {
  /** Listens on smtp.port (and smtp.tlsPort); resolves to the plain port. */
  listen(): Promise<number>;
  /** The implicit TLS port once listening; null without smtp.tlsPort. */
  tlsPort(): number | null;
  close(): Promise<void>;
}

export function createIngress(config: MailGuardConfig['smtp'], hooks: IngressHooks): Ingress {
  const authEnabled = config.auth.users.length > 0;
  if (config.auth.required && !authEnabled) {
    throw new ConfigError('smtp.auth.required: no users in smtp.auth.users, so no client could send; add one (mail-guard hash-password) or set required: false');
  }
  if (authEnabled && !config.tls) {
    throw new ConfigError('smtp.auth.users: SMTP AUTH is only offered after STARTTLS; set smtp.tls (key and cert)');
  }
  const authenticator = authEnabled ? createAuthenticator(config.auth) : null;
  const authLimits = DEFAULT_AUTH_LIMITS;
  const authFailures = new AuthFailureLimiter(authLimits);
  const authGate: AuthGate = (secure, remoteAddress) => {
    if (!secure) return authReplies.tlsFirst();
    return authFailures.blocked(remoteAddress) ? authReplies.rateLimited() : null;
  };
  if (config.tlsPort !== undefined && !config.tls) {
    throw new ConfigError('smtp.tlsPort: the implicit TLS listener needs a certificate; set smtp.tls (key and cert) or remove smtp.tlsPort');
  }
  const isAllowed = makeCidrMatcher(config.allowFrom);
  const shared: SharedState = { live: new Map(), overLimit: new Set(), limiter: new ConnectionLimiter(config.maxConnectionsPerClient), endings: new Map() };
  const senderDomains = new Map<string, (domain: string) => boolean>();
  for (const user of config.auth.users) {
    if (user.allowedSenderDomains) senderDomains.set(user.name, makeDomainClassifier(user.allowedSenderDomains));
  }
  // One entry per session inside a mail transaction (MAIL FROM until its answer,
  // RSET or the end of the session): the deadline and the signal of its work.
  const transactions = new Map<string, { timer: NodeJS.Timeout | null; readonly work: TransactionCancellation }>();
  /**
   * The transaction is over: its deadline stops, and whatever of its work is
   * still running is called off. `settled`: its work is known to be finished (it
   * produced the answer), so there is nothing to call off; an abort dispatches an
   * event through every listener and costs several microseconds a message.
   */
  const endTransaction = (id: string, why: string, settled = false) => {
    const tx = transactions.get(id);
    if (!tx) return;
    transactions.delete(id);
    if (tx.timer) clearTimeout(tx.timer);
    if (!settled) tx.work.abort(why);
  };
  const startTransaction = (id: string) => {
    // smtp-server reads no new MAIL before the previous DATA was answered: that work is done.
    endTransaction(id, 'a new transaction began', true);
    const work = new TransactionCancellation();
    const timer = setTimeout(() => {
      // The mailer hears 421 and will retry: nothing of this transaction may reach the upstream after this.
      endTransaction(id, 'the transaction deadline passed');
      const connection = shared.live.get(id);
      if (!connection) return;
      const reply = replies.transactionTimeout();
      connection.send(421, `${reply.enhanced} ${reply.text}`);
      connection.close();
    }, config.transactionTimeoutSeconds * 1000).unref();
    transactions.set(id, { timer, work });
  };
  // RSET (or EHLO, STARTTLS…) ends the transaction and with it its deadline; see transaction-hooks.ts.
  const watchResets = (id: string) => {
    const connection = shared.live.get(id);
    if (connection) watchTransaction(connection as unknown as ConnectionWithTransaction, () => endTransaction(id, 'the session was reset'));
  };

  const options: SMTPServerOptions = {
    banner: config.banner,
    size: config.maxMessageBytes,
    disableReverseLookup: true,
    authOptional: !config.auth.required,
    authMethods: ['PLAIN', 'LOGIN'],
    authRequiredMessage: `${authReplies.required().enhanced} ${authReplies.required().text}`,
    disabledCommands: [...(authEnabled ? [] : ['AUTH']), ...(config.tls ? [] : ['STARTTLS'])],
    hideENHANCEDSTATUSCODES: false,
    // DSN parameters are carried to the upstream (per copy when split), so they are offered.
    hideDSN: false,
    // RFC 8689: smtp-server offers it on TLS sessions only; the pool then sends such mail only over verified TLS.
    hideREQUIRETLS: false,
    maxClients: config.maxClients,
    socketTimeout: config.socketTimeoutSeconds * 1000,
    closeTimeout: 30_000,
    logger: false,
    useProxy: config.proxyProtocolFrom.length > 0 ? [...config.proxyProtocolFrom] : false,
    useXClient: config.xclientFrom.length > 0 ? [...config.xclientFrom] : false,
    ...(config.tls ? { key: readFileSync(config.tls.key), cert: readFileSync(config.tls.cert) } : {}),

    onConnect(session, callback) {
      if (!isAllowed(session.remoteAddress)) {
        hooks.onSession?.('denied');
        return callback(new SmtpReplyError(replies.clientNotAllowed()));
      }
      if (shared.overLimit.has(session.id)) {
        hooks.onSession?.('denied');
        return callback(new SmtpReplyError(replies.tooManyConnections()));
      }
      hooks.onSession?.('accepted');
      callback();
    },

    onAuth(auth, session, callback) {
      const address = session.remoteAddress;
      // The gate already refused these; kept here so no path reaches a password check without TLS.
      if (!authenticator || !session.secure) return callback(new SmtpReplyError(authReplies.tlsFirst()));
      // PLAIN may ask to act as someone else (authzid); nobody may, so that is a failed attempt.
      const proxying = auth.method === 'PLAIN' && !!auth.authzid && !!auth.authcid && auth.authzid !== auth.authcid;
      const check = async (): Promise<SmtpReply | string> => {
        // May wait for this address's checks in flight: only their failures could lock it out.
        if (!(await authFailures.begin(address))) return authReplies.rateLimited();
        let user: string | null;
        try {
          user = await authenticator.verify(auth.username ?? '', typeof auth.password === 'string' ? auth.password : '');
        } catch {
          authFailures.end(address, false);
          return authReplies.temporaryFailure();
        }
        const failed = user === null || proxying;
        const lockedOut = authFailures.end(address, failed);
        if (!failed) return user!;
        hooks.onAuthFailure?.();
        if (lockedOut) hooks.onAuthLockout?.({ clientAddress: address, failures: authLimits.maxFailures, windowSeconds: authLimits.windowMs / 1000 });
        return authReplies.invalid();
      };
      check().then(
        (outcome) => (typeof outcome === 'string' ? callback(null, { user: outcome }) : callback(new SmtpReplyError(outcome))),
        () => callback(new SmtpReplyError(authReplies.temporaryFailure())),
      );
    },

    onMailFrom(address, session, callback) {
      const allowedSender = typeof session.user === 'string' ? senderDomains.get(session.user) : undefined;
      if (allowedSender) {
        const at = address.address.lastIndexOf('@');
        // The null sender (<>) and a bare local part have no domain, so they are never in the list.
        const domain = at > 0 ? normaliseDomain(address.address.slice(at + 1)) : '';
        if (!domain || !allowedSender(domain)) return callback(new SmtpReplyError(replies.senderNotAllowed()));
      }
      startTransaction(session.id);
      watchResets(session.id);
      callback();
    },

    onRcptTo(_address, session, callback) {
      if (session.envelope.rcptTo.length >= config.maxRecipients) {
        return callback(new SmtpReplyError(replies.tooManyRecipients(config.maxRecipients)));
      }
      callback();
    },

    onData(stream: SMTPServerDataStream, session, callback) {
      const dataStartedAt = performance.now();
      // Set by onMailFrom; a fallback so a transaction always has a signal to watch.
      const signal = transactions.get(session.id)?.work.signal ?? AbortSignal.abort('no transaction');
      inData.add(session.id);
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        // Past the limit keep counting but stop holding bytes: the message is refused anyway.
        if (size <= config.maxMessageBytes) chunks.push(chunk);
      });
      stream.once('end', () => {
        const finish = (reply: SmtpReply, settled: boolean) => {
          // Answered: nothing of this transaction may start after its answer (a 4xx means "retry").
          endTransaction(session.id, 'the mailer was answered', settled);
          inData.delete(session.id);
          if (reply.code < 400) callback(null, `${reply.enhanced} ${reply.text}`);
          else callback(new SmtpReplyError(reply));
          // Draining: the answer is out; this session gets no further transaction.
          if (closing) setImmediate(() => hangUp(session.id));
        };
        if (stream.sizeExceeded || size > config.maxMessageBytes) {
          hooks.onOversized?.(size);
          return finish(replies.messageTooBig(config.maxMessageBytes), true);
        }
        hooks
          .onMessage({
            chunks,
            size,
            session,
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
            esmtp: esmtpParamsOf(session),
            dataStartedAt,
            signal,
          })
          // A throw may leave split workers running: those are called off.
          .then((reply) => finish(reply, true), () => finish(replies.analysisFailed(), false));
      });
    },

    onClose(session) {
      shared.endings.get(session.id)?.();
      // A mailer that goes away mid-transaction was never told 250: it will send again.
      endTransaction(session.id, 'the mailer\'s connection closed');
      inData.delete(session.id);
      hooks.onSessionClosed?.(session);
    },
  };

  const inData = new Set<string>();
  let closing = false;
  const hangUp = (id: string) => {
    const connection = shared.live.get(id);
    if (!connection) return;
    const reply = replies.shuttingDown();
    connection.send(421, `${reply.enhanced} ${reply.text}`);
    connection.close();
  };

  const makeServer = (serverOptions: SMTPServerOptions) => {
    const server = new GuardedSmtpServer(serverOptions, shared, isAllowed, authEnabled ? authGate : null);
    server.on('error', () => {
      // Per-connection socket errors (resets, TLS noise) are not the server's failure.
    });
    return server;
  };
  const servers = [makeServer(options)];
  const tlsServer = config.tlsPort !== undefined ? makeServer({ ...options, secure: true }) : null;
  if (tlsServer) servers.push(tlsServer);
  let tlsPort: number | null = null;

  return {
    listen: async () => {
      const port = await listenOn(servers[0]!.server, config.port, config.host);
      if (tlsServer && config.tlsPort !== undefined) tlsPort = await listenOn(tlsServer.server, config.tlsPort, config.host);
      return port;
    },
    tlsPort: () => tlsPort,
    close: async () => {
      closing = true;
      // Transactions in DATA finish within the grace period: their deadlines stop, their work goes on.
      for (const tx of transactions.values()) {
        if (tx.timer) clearTimeout(tx.timer);
        tx.timer = null;
      }
      const closed = Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      // smtp-server would wait for pooled idle sessions until its own timeout; a
      // mailer's connection pool must not turn every shutdown into a forced exit.
      // Sessions inside DATA finish first and are hung up after their reply.
      for (const id of [...shared.live.keys()]) if (!inData.has(id)) hangUp(id);
      await closed;
    },
  };
}
