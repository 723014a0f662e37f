// A real SMTP relay for tests (smtp-server on 127.0.0.1, a free port) that records
// every message exactly as it arrived. Use it as mail-guard's upstream and assert
// on what really left the proxy.
//
//   const upstream = await startRecordingUpstream();
//   … send through mail-guard with upstream { host: '127.0.0.1', port: upstream.port } …
//   expect(upstream.messages[0]?.raw.equals(expected)).toBe(true);
//   await upstream.close();
//
// Replies carry no automatic enhanced status codes: the default accept reply is
// `250 2.0.0 Ok: queued as R<n>`, and an override's `message` is sent as given
// after the code (put the enhanced code in it yourself: `{ code: 451, message: '4.3.0 try later' }`).

import { SMTPServer } from 'smtp-server';

export interface UpstreamReplyOverride {
  readonly code: number;
  /** The text after the code, e.g. "4.2.0 mailbox busy". */
  readonly message: string;
}

export interface RecordedTransaction {
  /** 1-based number of the connection (in accept order) that carried it. */
  readonly connection: number;
  /** MAIL FROM address ('' for the null sender). */
  readonly mailFrom: string;
  /** Recipients the upstream accepted. */
  readonly rcptTo: string[];
  /** The message exactly as received, after dot-unstuffing (the CRLF before the final dot included). */
  readonly raw: Buffer;
  /** The ESMTP parameters of MAIL FROM as parsed (BODY, SMTPUTF8, RET, ENVID, REQUIRETLS …). */
  readonly mailParams: Record<string, unknown>;
  /** Each recipient's RCPT TO parameters (NOTIFY, ORCPT), by address. */
  readonly rcptParams: Record<string, Record<string, unknown>>;
}

export interface RecordedMessage extends RecordedTransaction {
  /** What the upstream answered to the final dot. */
  readonly reply: UpstreamReplyOverride;
  /** When its final dot arrived (ms since the epoch). */
  readonly arrivedAt: number;
}

export interface RecordingUpstreamOptions {
  /** Answer to the final dot; undefined = accept with `250 2.0.0 Ok: queued as R<n>`. */
  reply?: (tx: RecordedTransaction) => UpstreamReplyOverride | undefined;
  /** Answer to RCPT TO; undefined = accept. A code ≥ 400 refuses that recipient. */
  rcptReply?: (address: string) => UpstreamReplyOverride | undefined;
  /** Answer to MAIL FROM; undefined = accept. */
  mailReply?: (address: string) => UpstreamReplyOverride | undefined;
  /** Delay before the 220 greeting. */
  greetingDelayMs?: number;
  /**
   * Offer STARTTLS: with this key/cert, or `'untrusted'` for smtp-server's built-in
   * self-signed certificate (a certificate no client should accept). Default: no STARTTLS.
   */
  tls?: { key: string | Buffer; cert: string | Buffer } | 'untrusted';
  /** Implicit TLS (RFC 8314, as on port 465) with the `tls` certificate instead of STARTTLS. */
  secure?: boolean;
  /** The newest TLS version the relay speaks (an old relay: 'TLSv1.2'). */
  tlsMaxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Require AUTH with these credentials (allowed without TLS, for tests). Default: no AUTH needed. */
  auth?: { user: string; pass: string };
  /** Announce this SIZE limit. */
  size?: number;
  /** Do not announce PIPELINING. */
  hidePipelining?: boolean;
  /** Listen on this port (a relay that comes back where it was); default a free one. */
  port?: number;
  /** Refuse connections beyond this many at once with 421 (smtp-server's maxClients), as a relay with a per-client limit. */
  maxClients?: number;
  /** Do not offer these EHLO extensions (an older relay). */
  hide?: { eightBitMime?: boolean; smtputf8?: boolean; dsn?: boolean; requireTLS?: boolean };
}

export interface RecordingUpstream {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Messages the upstream accepted (answered 2xx), in order. */
  readonly messages: RecordedMessage[];
  /** Every message whose final dot arrived, accepted or not, with the reply it got. */
  readonly received: RecordedMessage[];
  /** MAIL FROM commands received (accepted or not). */
  readonly transactions: number;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Resolves with `messages` once at least `count` were accepted (already, or later): the arrival event. */
  waitForMessages(count: number): Promise<RecordedMessage[]>;
  /** Stops listening and drops every open connection. */
  close(): Promise<void>;
}

function smtpError(reply: UpstreamReplyOverride): Error {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}

export async function startRecordingUpstream(options: RecordingUpstreamOptions = {}): Promise<RecordingUpstream> {
  const messages: RecordedMessage[] = [];
  const received: RecordedMessage[] = [];
  let transactions = 0;
  let connections = 0;
  let queued = 0;
  const connectionOf = new Map<string, number>();
  const arrivalWaiters: Array<() => void> = [];

  const disabledCommands: string[] = [];
  if (!options.auth) disabledCommands.push('AUTH');
  if (options.tls === undefined || options.secure) disabledCommands.push('STARTTLS');
  if (options.secure && typeof options.tls !== 'object') throw new Error('recording upstream: secure needs a tls key/cert');
  const certificate = typeof options.tls === 'object' ? { key: options.tls.key, cert: options.tls.cert } : {};

  const server = new SMTPServer({
    logger: false,
    disableReverseLookup: true,
    hideENHANCEDSTATUSCODES: true,
    authOptional: !options.auth,
    allowInsecureAuth: true,
    disabledCommands,
    ...certificate,
    secure: options.secure === true,
    ...(options.tlsMaxVersion ? { maxVersion: options.tlsMaxVersion } : {}),
    ...(options.size === undefined ? {} : { size: options.size }),
    hidePIPELINING: options.hidePipelining === true,
    hide8BITMIME: options.hide?.eightBitMime === true,
    hideSMTPUTF8: options.hide?.smtputf8 === true,
    hideDSN: options.hide?.dsn === true,
    hideREQUIRETLS: options.hide?.requireTLS === true,
    closeTimeout: 200,
    ...(options.maxClients === undefined ? {} : { maxClients: options.maxClients }),
    onConnect(session, callback) {
      connectionOf.set(session.id, ++connections);
      if (options.greetingDelayMs) setTimeout(() => callback(), options.greetingDelayMs);
      else callback();
    },
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username });
      } else {
        callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
      }
    },
    onMailFrom(address, _session, callback) {
      transactions++;
      const r = options.mailReply?.(address.address);
      callback(r && r.code >= 400 ? smtpError(r) : null);
    },
    onRcptTo(address, _session, callback) {
      const r = options.rcptReply?.(address.address);
      callback(r && r.code >= 400 ? smtpError(r) : null);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const tx: RecordedTransaction = {
          connection: connectionOf.get(session.id) ?? 0,
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          mailParams: { ...((session.envelope.mailFrom || {}) as { args?: Record<string, unknown> }).args },
          rcptParams: Object.fromEntries(session.envelope.rcptTo.map((r) => [r.address, { ...(r as { args?: Record<string, unknown> }).args }])),
        };
        const override = options.reply?.(tx);
        const reply = override ?? { code: 250, message: `2.0.0 Ok: queued as R${++queued}` };
        const arrivedAt = Date.now();
        received.push({ ...tx, reply, arrivedAt });
        if (reply.code < 400) {
          messages.push({ ...tx, reply, arrivedAt });
          for (const check of arrivalWaiters.splice(0)) check();
          callback(null, reply.message);
        } else {
          callback(smtpError(reply));
        }
      });
    },
  });
  server.on('error', () => {
    /* a client resetting its socket is not a test failure */
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.server.address();
  if (address === null || typeof address === 'string') throw new Error('recording upstream: no port');

  return {
    host: '127.0.0.1',
    port: address.port,
    messages,
    received,
    get transactions() {
      return transactions;
    },
    get connections() {
      return connections;
    },
    waitForMessages: (count) =>
      new Promise<RecordedMessage[]>((resolve) => {
        const check = (): void => {
          if (messages.length >= count) resolve(messages);
          else arrivalWaiters.push(check);
        };
        check();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of server.connections) c.close();
      }),
  };
}
