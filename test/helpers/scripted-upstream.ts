// A raw-socket SMTP peer for fault injection (127.0.0.1, a free port). It speaks
// just enough SMTP for a client (EHLO, optional AUTH PLAIN, MAIL, RCPT, DATA, RSET,
// NOOP, QUIT, PIPELINING) and lets a test decide, per command and per message,
// what goes wrong:
//
//   const peer = await startScriptedUpstream({ greeting: '421 4.3.2 busy' });          // refuse at greeting
//   const peer = await startScriptedUpstream({ afterDot: () => ({ hang: true }) });    // never answer the dot
//   const peer = await startScriptedUpstream({ afterDot: () => ({ close: true }) });   // drop after the dot
//   const peer = await startScriptedUpstream({ afterDot: () => ({ reply: '451 4.3.0 later' }) });
//   peer.closeIdle('421 4.4.2 idle timeout');  // the upstream ends idle sessions
//   peer.breakIdle();                          // idle sessions die silently on their next command
//   const peer = await startScriptedUpstream({ holdReply: (verb) => (verb === 'DATA' ? released : undefined) });
//   await peer.whenClosed(1);                  // the client (or the peer) ended connection 1
//
// Counters: `connections` (accepted sockets), `transactions` (MAIL FROM commands),
// `received` (messages whose final dot arrived), `delivered` (those answered 2xx),
// `log` (every command line, prefixed by its connection number).

import net from 'node:net';

export type AfterDot =
  /** Answer (a full reply line, e.g. "250 2.0.0 Ok"); with close, drop the socket right after. */
  | { reply: string; close?: boolean }
  /** Never answer; the socket stays open until the client gives up or close() is called. */
  | { hang: true }
  /** Drop the socket without answering. */
  | { close: true };

export interface ScriptedMessage {
  /** 1-based connection number (accept order). */
  readonly connection: number;
  /** 1-based number of this message among all messages received. */
  readonly index: number;
  /** 1-based number of this message on its connection. */
  readonly onConnection: number;
  readonly mailFrom: string;
  readonly rcptTo: string[];
  /** The message after dot-unstuffing, including the CRLF before the final dot. */
  readonly raw: Buffer;
}

export interface ScriptedUpstreamOptions {
  /**
   * The greeting line. Default "220 scripted.test ESMTP". Any non-220 greeting is
   * followed by closing the socket; null = never greet (a silent peer).
   */
  greeting?: string | null;
  /** EHLO keywords. Default PIPELINING, 8BITMIME, SMTPUTF8 (AUTH PLAIN is added when `auth` is set). */
  extensions?: string[];
  /** Accept only AUTH PLAIN with these credentials (535 otherwise). */
  auth?: { user: string; pass: string };
  /** Reply to MAIL FROM; undefined = "250 2.1.0 Ok". */
  mail?: (address: string, connection: number) => string | undefined;
  /** Reply to RCPT TO; undefined = "250 2.1.5 Ok". */
  rcpt?: (address: string, connection: number) => string | undefined;
  /** What happens after the final dot; default `{ reply: '250 2.0.0 Ok: queued as S<n>' }`. */
  afterDot?: (message: ScriptedMessage) => AfterDot;
  /**
   * A slow upstream: the reply to a command (its verb, e.g. 'RCPT', 'DATA'; 'DOT'
   * for the final dot) waits until the promise resolves, and nothing after it on
   * that connection is read meanwhile. undefined = answer at once.
   */
  holdReply?: (verb: string, connection: number) => Promise<void> | undefined;
}

export interface ScriptedUpstream {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly connections: number;
  readonly transactions: number;
  readonly received: ScriptedMessage[];
  readonly delivered: ScriptedMessage[];
  readonly log: string[];
  /** Sockets currently open. */
  openConnections(): number;
  /** Resolves once connection `n` (1-based) has closed, whoever closed it. */
  whenClosed(n: number): Promise<void>;
  /** Resolves once `count` messages in all have had their final dot arrive. */
  whenReceived(count?: number): Promise<void>;
  /** Resolves once a command line matching `match` has arrived (it is in `log`). */
  whenLogged(match: (line: string) => boolean): Promise<void>;
  /** Ends every session that is not inside a transaction, after sending `reply` if given. Returns how many. */
  closeIdle(reply?: string): number;
  /** Makes every idle session drop its socket, without a reply, on its next command. Returns how many. */
  breakIdle(): number;
  close(): Promise<void>;
}

interface Session {
  readonly n: number;
  readonly socket: net.Socket;
  buffer: Buffer;
  mode: 'command' | 'data' | 'held' | 'hung' | 'closed';
  mailFrom: string | null;
  rcptTo: string[];
  messages: number;
  broken: boolean;
}

const CRLF = Buffer.from('\r\n');
const END_OF_DATA = Buffer.from('\r\n.\r\n');

/** Removes the leading dot of every line that has one (RFC 5321 4.5.2). */
function unstuff(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let lineStart = 0;
  while (lineStart < data.length) {
    const eol = data.indexOf(CRLF, lineStart);
    const lineEnd = eol < 0 ? data.length : eol + 2;
    parts.push(data.subarray(data[lineStart] === 0x2e ? lineStart + 1 : lineStart, lineEnd));
    lineStart = lineEnd;
  }
  return Buffer.concat(parts);
}

export async function startScriptedUpstream(options: ScriptedUpstreamOptions = {}): Promise<ScriptedUpstream> {
  const sessions = new Set<Session>();
  /** Sessions by connection number, kept after they close (for whenClosed). */
  const closedConnections = new Set<number>();
  const watchers: Array<() => void> = [];
  const notify = (): void => {
    for (const w of watchers.splice(0)) w();
  };
  const until = (done: () => boolean): Promise<void> =>
    new Promise<void>((resolve) => {
      const check = (): void => {
        if (done()) resolve();
        else watchers.push(check);
      };
      check();
    });
  const received: ScriptedMessage[] = [];
  const delivered: ScriptedMessage[] = [];
  const log: string[] = [];
  let connections = 0;
  let transactions = 0;
  const greeting = options.greeting === undefined ? '220 scripted.test ESMTP' : options.greeting;
  const extensions = [...(options.extensions ?? ['PIPELINING', '8BITMIME', 'SMTPUTF8']), ...(options.auth ? ['AUTH PLAIN'] : [])];

  const write = (s: Session, line: string): void => {
    if (!s.socket.destroyed && s.socket.writable) s.socket.write(`${line}\r\n`);
  };
  const drop = (s: Session): void => {
    s.mode = 'closed';
    s.socket.destroy();
  };
  const resetTx = (s: Session): void => {
    s.mailFrom = null;
    s.rcptTo = [];
  };

  /** Runs `answer` now, or once options.holdReply lets it (the session reads nothing meanwhile). */
  const replyWhenAllowed = (s: Session, verb: string, answer: () => void): void => {
    const hold = options.holdReply?.(verb, s.n);
    if (!hold) return answer();
    s.mode = 'held';
    void hold.then(() => {
      if (s.mode !== 'held') return; // closed while held
      s.mode = 'command';
      answer();
      pump(s);
    });
  };

  const onCommand = (s: Session, line: string): void => {
    log.push(`${s.n} ${line}`);
    notify();
    if (s.broken) return drop(s);
    const verb = line.slice(0, 4).toUpperCase();
    // Counted on arrival: a MAIL whose reply is held has still reached the upstream.
    if (verb === 'MAIL') transactions++;
    replyWhenAllowed(s, verb, () => answerCommand(s, line, verb));
  };

  const answerCommand = (s: Session, line: string, verb: string): void => {
    const arg = (prefix: RegExp): string => (prefix.exec(line)?.[1] ?? '').trim();
    switch (verb) {
      case 'EHLO':
        return write(s, ['scripted.test', ...extensions].map((e, i, all) => `250${i === all.length - 1 ? ' ' : '-'}${e}`).join('\r\n'));
      case 'HELO':
        return write(s, '250 scripted.test');
      case 'AUTH': {
        const token = line.split(/\s+/)[2] ?? '';
        const [, user, pass] = Buffer.from(token, 'base64').toString('utf8').split('\0');
        const ok = options.auth !== undefined && user === options.auth.user && pass === options.auth.pass;
        return write(s, ok ? '235 2.7.0 Authentication successful' : '535 5.7.8 Authentication credentials invalid');
      }
      case 'MAIL': {
        const address = arg(/^MAIL FROM:\s*<([^>]*)>/i);
        const reply = options.mail?.(address, s.n) ?? '250 2.1.0 Ok';
        if (reply.startsWith('2')) s.mailFrom = address;
        write(s, reply);
        if (reply.startsWith('421')) drop(s);
        return;
      }
      case 'RCPT': {
        if (s.mailFrom === null) return write(s, '503 5.5.1 Error: need MAIL command');
        const address = arg(/^RCPT TO:\s*<([^>]*)>/i);
        const reply = options.rcpt?.(address, s.n) ?? '250 2.1.5 Ok';
        if (reply.startsWith('2')) s.rcptTo.push(address);
        write(s, reply);
        if (reply.startsWith('421')) drop(s);
        return;
      }
      case 'DATA':
        if (s.mailFrom === null) return write(s, '503 5.5.1 Error: need MAIL command');
        if (s.rcptTo.length === 0) return write(s, '554 5.5.1 Error: no valid recipients');
        s.mode = 'data';
        return write(s, '354 End data with <CR><LF>.<CR><LF>');
      case 'RSET':
        resetTx(s);
        return write(s, '250 2.0.0 Ok');
      case 'NOOP':
        return write(s, '250 2.0.0 Ok');
      case 'QUIT':
        write(s, '221 2.0.0 Bye');
        s.mode = 'closed';
        s.socket.end();
        return;
      default:
        return write(s, '502 5.5.2 Error: command not recognized');
    }
  };

  const onMessage = (s: Session, raw: Buffer): void => {
    s.messages++;
    const message: ScriptedMessage = {
      connection: s.n,
      index: received.length + 1,
      onConnection: s.messages,
      mailFrom: s.mailFrom ?? '',
      rcptTo: s.rcptTo,
      raw,
    };
    received.push(message);
    notify();
    resetTx(s);
    s.mode = 'command';
    replyWhenAllowed(s, 'DOT', () => answerDot(s, message));
  };

  const answerDot = (s: Session, message: ScriptedMessage): void => {
    const action = options.afterDot?.(message) ?? { reply: `250 2.0.0 Ok: queued as S${message.index}` };
    if ('hang' in action) {
      s.mode = 'hung';
      return;
    }
    if (!('reply' in action)) return drop(s);
    if (action.reply.startsWith('2')) delivered.push(message);
    write(s, action.reply);
    if (action.close || action.reply.startsWith('421')) drop(s);
  };

  const pump = (s: Session): void => {
    while (s.mode === 'command' || s.mode === 'data') {
      if (s.mode === 'data') {
        const empty = s.buffer.length >= 3 && s.buffer[0] === 0x2e && s.buffer[1] === 0x0d && s.buffer[2] === 0x0a;
        const end = empty ? -1 : s.buffer.indexOf(END_OF_DATA);
        if (!empty && end < 0) return;
        const data = empty ? Buffer.alloc(0) : s.buffer.subarray(0, end + 2);
        s.buffer = s.buffer.subarray(empty ? 3 : end + END_OF_DATA.length);
        onMessage(s, unstuff(data));
        continue;
      }
      const eol = s.buffer.indexOf(0x0a);
      if (eol < 0) return;
      const line = s.buffer.subarray(0, eol).toString('latin1').replace(/\r$/, '');
      s.buffer = s.buffer.subarray(eol + 1);
      onCommand(s, line);
    }
  };

  const server = net.createServer((socket) => {
    const s: Session = { n: ++connections, socket, buffer: Buffer.alloc(0), mode: 'command', mailFrom: null, rcptTo: [], messages: 0, broken: false };
    sessions.add(s);
    socket.on('error', () => {
      /* peers reset sockets; that is what these tests are about */
    });
    socket.on('close', () => {
      s.mode = 'closed';
      sessions.delete(s);
      closedConnections.add(s.n);
      notify();
    });
    socket.on('data', (chunk: Buffer) => {
      s.buffer = s.buffer.length ? Buffer.concat([s.buffer, chunk]) : chunk;
      pump(s);
    });
    if (greeting === null) {
      s.mode = 'hung';
      return;
    }
    write(s, greeting);
    if (!greeting.startsWith('220')) {
      s.mode = 'closed';
      socket.end();
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('scripted upstream: no port');

  const idleSessions = (): Session[] => [...sessions].filter((s) => s.mode === 'command' && s.mailFrom === null);

  return {
    host: '127.0.0.1',
    port: address.port,
    get connections() {
      return connections;
    },
    get transactions() {
      return transactions;
    },
    received,
    delivered,
    log,
    openConnections: () => sessions.size,
    whenClosed: (n) => until(() => closedConnections.has(n)),
    whenReceived: (count = 1) => until(() => received.length >= count),
    whenLogged: (match) => until(() => log.some(match)),
    closeIdle(reply?: string) {
      const idle = idleSessions();
      for (const s of idle) {
        if (reply) write(s, reply);
        s.mode = 'closed';
        s.socket.end();
      }
      return idle.length;
    },
    breakIdle() {
      const idle = idleSessions();
      for (const s of idle) s.broken = true;
      return idle.length;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.socket.destroy();
        server.close(() => resolve());
      }),
  };
}
