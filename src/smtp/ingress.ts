import type { SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { MailGuardConfig } from '../config/schema.js';
import { makeDomainClassifier, normaliseDomain } from '../analysis/domain.js';
import { makeCidrMatcher } from '../net/cidr.js';
import { listenOn } from '../net/listen.js';
import type { EsmtpParams } from '../policy/verdict.js';
import { ConnectionLimiter, SlotsAskedFor, type ConnectionSlots } from './connection-limiter.js';
import { esmtpParamsOf } from './esmtp-params.js';
import { GreetingWithoutWaitServer } from './greeting-without-wait.js';
import { IngressConnection, type IngressConnectionHooks } from './ingress-connection.js';
import { replies, SmtpReplyError, type SmtpReply } from '../reply/replies.js';
import { AuthFailureLimiter, authReplies, createAuthenticator, DEFAULT_AUTH_LIMITS, type AuthAttempts } from './smtp-auth.js';
import { readSmtpTls } from './smtp-tls.js';
import { TransactionDeadlines } from './transaction-deadlines.js';

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

/** Counts kept outside this ingress (several worker processes share one set); absent = this ingress's own. */
export interface SharedClientLimits {
  readonly connections?: ConnectionSlots;
  readonly authAttempts?: AuthAttempts;
}

export interface Ingress {
  /** Listens on smtp.port (and smtp.tlsPort); resolves to the plain port. */
  listen(): Promise<number>;
  /** The implicit TLS port once listening; null without smtp.tlsPort. */
  tlsPort(): number | null;
  close(): Promise<void>;
}

export function createIngress(config: MailGuardConfig['smtp'], hooks: IngressHooks, shared: SharedClientLimits = {}): Ingress {
  // The schema has checked the keys against each other (config/schema.ts): AUTH
  // only with TLS, required AUTH only with users, smtp.tlsPort only with smtp.tls.
  const authEnabled = config.auth.users.length > 0;
  const authenticator = authEnabled ? createAuthenticator(config.auth) : null;
  const authLimits = DEFAULT_AUTH_LIMITS;
  const authFailures = shared.authAttempts ?? new AuthFailureLimiter(authLimits);
  const isAllowed = makeCidrMatcher(config.allowFrom);
  const limiter = shared.connections ?? new ConnectionLimiter(config.maxConnectionsPerClient);
  /** Per session admitted by onConnect: gives its per-client slot back (onClose). */
  const slots = new Map<string, () => void>();
  const asking = new SlotsAskedFor();
  const senderDomains = new Map<string, (domain: string) => boolean>();
  for (const user of config.auth.users) {
    if (user.allowedSenderDomains) senderDomains.set(user.name, makeDomainClassifier(user.allowedSenderDomains));
  }
  const deadlines = new TransactionDeadlines(config.transactionTimeoutSeconds * 1000, (id) => hangUp(id, replies.transactionTimeout()));
  const inData = new Set<string>();
  let closing = false;

  const connectionHooks: IngressConnectionHooks = {
    // Before smtp-server reads any credentials: our own TLS rule with an enhanced
    // code, and locked-out clients are turned away without a password check.
    authGate: authEnabled
      ? (secure, remoteAddress) => {
          if (!secure) return authReplies.tlsFirst();
          return authFailures.blocked(remoteAddress) ? authReplies.rateLimited() : null;
        }
      : null,
    // RSET (or EHLO, STARTTLS…) ends the transaction and with it its deadline.
    onReset: (id) => deadlines.end(id, 'the session was reset'),
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
    ...(config.tls ? readSmtpTls(config.tls) : {}),

    onConnect(session, callback) {
      if (!isAllowed(session.remoteAddress)) {
        hooks.onSession?.('denied');
        return callback(new SmtpReplyError(replies.clientNotAllowed()));
      }
      const admit = (release: (() => void) | null) => {
        if (!release) {
          hooks.onSession?.('denied');
          return callback(new SmtpReplyError(replies.tooManyConnections()));
        }
        // onClose runs once for every session that got here, however it ends (QUIT,
        // a 421, a reset, a failed STARTTLS handshake): the slot comes back there.
        slots.set(session.id, release);
        hooks.onSession?.('accepted');
        callback();
      };
      // remoteAddress is the PROXY header's address when the peer is a listed proxy.
      const slot = limiter.tryAcquire(session.remoteAddress);
      if (!(slot instanceof Promise)) return admit(slot);
      asking.wait(session.id, slot, admit, () => callback(new SmtpReplyError(replies.shuttingDown())));
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
          await authFailures.end(address, false);
          return authReplies.temporaryFailure();
        }
        const failed = user === null || proxying;
        const lockedOut = await authFailures.end(address, failed);
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
      deadlines.start(session.id);
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
      const signal = deadlines.signalOf(session.id);
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
          deadlines.end(session.id, 'the mailer was answered', settled);
          inData.delete(session.id);
          if (reply.code < 400) callback(null, `${reply.enhanced} ${reply.text}`);
          else callback(new SmtpReplyError(reply));
          // Draining: the answer is out; this session gets no further transaction.
          if (closing) setImmediate(() => hangUp(session.id, replies.shuttingDown()));
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
          .then(
            (reply) => finish(reply, true),
            () => finish(replies.analysisFailed(), false),
          );
      });
    },

    onClose(session) {
      slots.get(session.id)?.();
      slots.delete(session.id);
      asking.ended(session.id);
      // A mailer that goes away mid-transaction was never told 250: it will send again.
      deadlines.end(session.id, "the mailer's connection closed");
      inData.delete(session.id);
      hooks.onSessionClosed?.(session);
    },
  };

  const makeServer = (serverOptions: SMTPServerOptions) => {
    // Allow-listed mailers are greeted at once (see greeting-without-wait.ts); anyone
    // else keeps smtp-server's early-talker wait and is then refused in onConnect.
    const server = new GreetingWithoutWaitServer(
      serverOptions,
      isAllowed,
      (owner, socket, socketOptions) => new IngressConnection(owner, socket, socketOptions, connectionHooks),
    );
    server.on('error', () => {
      // Per-connection socket errors (resets, TLS noise) are not the server's failure.
    });
    return server;
  };
  const servers = [makeServer(options)];
  const tlsServer = config.tlsPort !== undefined ? makeServer({ ...options, secure: true }) : null;
  if (tlsServer) servers.push(tlsServer);
  let tlsPort: number | null = null;

  /** Open sessions, as smtp-server keeps them (a closing one is no longer in the set). */
  const openConnections = () => servers.flatMap((server) => [...server.connections]);
  const tellAndClose = (connection: SMTPConnection, reply: SmtpReply) => {
    connection.send(421, `${reply.enhanced} ${reply.text}`, false);
    connection.close();
  };
  /** Tells the mailer why and closes its session, if it is still open. */
  const hangUp = (id: string, reply: SmtpReply) => {
    const connection = openConnections().find((c) => c.id === id);
    if (connection) tellAndClose(connection, reply);
  };

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
      deadlines.stopDeadlines();
      const closed = Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      // smtp-server would wait for pooled idle sessions until its own timeout; a
      // mailer's connection pool must not turn every shutdown into a forced exit.
      // Sessions inside DATA finish first and are hung up after their reply.
      for (const connection of openConnections()) if (!inData.has(connection.id)) tellAndClose(connection, replies.shuttingDown());
      await closed;
    },
  };
}
