// The soak's load: N concurrent raw-socket SMTP sessions against mail-guard,
// each kept open and reused for several messages, reconnecting on 421 or a
// closed connection. A message that gets a 4xx (or loses its connection before
// the final reply) is retried byte-for-byte, as a mailer would, up to `retries`
// times; what counts is the last reply. Every message is recorded with its id,
// kind, envelope, every attempt's reply and the final reply.
import net from 'node:net';
import { prng } from './soak-upstream.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const INTERNAL_DOMAIN = 'example.co.jp';
export const HOLD_SENDER = 'hold@example.co.jp';
export const isExternal = (address) => !address.toLowerCase().endsWith('@' + INTERNAL_DOMAIN);

/** Kind mix (weights). */
const MIX = [
  ['clean', 50],
  ['exposing', 25],
  ['held', 10],
  ['malformed', 12],
  ['oversized', 3],
];
const MIX_TOTAL = MIX.reduce((a, [, w]) => a + w, 0);

/** Builds message n (deterministic for a given rand). */
export function buildMessage(n, rand, { oversizeBytes }) {
  let pick = rand() * MIX_TOTAL;
  let kind = MIX[0][0];
  for (const [k, w] of MIX) {
    if (pick < w) { kind = k; break; }
    pick -= w;
  }
  const ext = () => `u${Math.floor(rand() * 5000)}@partner${Math.floor(rand() * 40)}.example.net`;
  const distinctExternals = (count) => {
    const set = new Set();
    for (let i = 0; i < count * 4 && set.size < count; i++) set.add(ext());
    return [...set];
  };
  const sender = kind === 'held' ? HOLD_SENDER : `sender${Math.floor(rand() * 50)}@${INTERNAL_DOMAIN}`;
  let to;
  let cc = [];
  let rcpts;
  if (kind === 'clean' || kind === 'malformed' || kind === 'oversized') {
    to = [ext()];
    // Sometimes an internal colleague in Cc: internal addresses expose no one, and a
    // two-recipient envelope exercises the upstream's per-recipient deferrals.
    if (rand() < 0.3) cc = [`colleague${Math.floor(rand() * 20)}@${INTERNAL_DOMAIN}`];
    rcpts = [...to, ...cc];
  } else {
    to = distinctExternals(3 + Math.floor(rand() * 3));
    rcpts = to.slice();
  }
  const headers = [
    `From: Soak Sender <${sender}>`,
    `To: ${to.map((a, i) => (i % 2 ? `"Partner ${i}" <${a}>` : a)).join(', ')}`,
    ...(cc.length ? [`Cc: ${cc.join(', ')}`] : []),
    `Subject: soak ${n} ${kind}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <soak-${n}@soak.${INTERNAL_DOMAIN}>`,
    `X-Soak-Id: ${n}`,
    ...(kind === 'malformed' ? ['This header line has no colon at all'] : []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
  ];
  const bodyLines = [];
  const targetBytes = kind === 'oversized' ? oversizeBytes : 200 + Math.floor(rand() * 3000);
  let size = 0;
  for (let i = 0; size < targetBytes && i < 1_000_000; i++) {
    const line = `line ${i} of soak message ${n}: the quick brown fox jumps over the lazy dog`;
    bodyLines.push(line);
    size += line.length + 2;
  }
  bodyLines.push('. a line that starts with a dot (stuffed on the wire)');
  const text = headers.join('\r\n') + '\r\n\r\n' + bodyLines.join('\r\n') + '\r\n';
  return { record: { id: n, kind, mailFrom: sender, rcpts, attempts: [], final: null }, text };
}

/** Wire form of a message's DATA section, dot-stuffed, with the terminator. */
function wireData(text) {
  return text.replace(/\r\n\./g, '\r\n..').replace(/^\./, '..') + '.\r\n';
}

/**
 * One SMTP client connection with a reply queue. `read(timeoutMs)` resolves
 * { code, text } or { code: 0, text: 'closed'|'timeout' }.
 */
class Connection {
  constructor(socket) {
    this.socket = socket;
    this.buffer = '';
    this.lines = [];
    this.replies = [];
    this.waiter = null;
    this.closed = false;
    socket.setEncoding('latin1');
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.#onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#deliver({ code: 0, text: 'closed' });
    });
  }

  static open(port, timeoutMs) {
    return new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => { socket.destroy(); resolve(null); }, timeoutMs);
      socket.once('connect', () => { clearTimeout(timer); resolve(new Connection(socket)); });
      socket.once('error', () => { clearTimeout(timer); socket.destroy(); resolve(null); });
    });
  }

  #onData(chunk) {
    this.buffer += chunk;
    let eol;
    while ((eol = this.buffer.indexOf('\n')) !== -1) {
      const line = this.buffer.slice(0, eol).replace(/\r$/, '');
      this.buffer = this.buffer.slice(eol + 1);
      this.lines.push(line);
      if (/^\d{3}(?: |$)/.test(line) || !/^\d{3}-/.test(line)) {
        const code = Number(line.slice(0, 3)) || 0;
        const text = this.lines.map((l) => l.slice(4)).join(' ');
        this.lines = [];
        this.#deliver({ code, text });
      }
    }
    if (this.buffer.length > 65536) this.socket.destroy();
  }

  #deliver(reply) {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(reply);
    } else if (reply.code !== 0 || this.replies.length === 0) {
      this.replies.push(reply);
    }
  }

  read(timeoutMs) {
    if (this.replies.length) return Promise.resolve(this.replies.shift());
    if (this.closed) return Promise.resolve({ code: 0, text: 'closed' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        this.socket.destroy();
        resolve({ code: 0, text: 'timeout' });
      }, timeoutMs);
      this.waiter = (reply) => { clearTimeout(timer); resolve(reply); };
    });
  }

  async command(line, timeoutMs) {
    if (this.closed) return { code: 0, text: 'closed' };
    this.socket.write(line + '\r\n');
    return this.read(timeoutMs);
  }

  close() {
    if (!this.closed) {
      try { this.socket.end('QUIT\r\n'); } catch { /* gone */ }
      setTimeout(() => this.socket.destroy(), 500).unref();
    }
  }
}

/**
 * Runs the load. Options: port, sessions, deadline (ms epoch: no new message
 * after it), hardDeadline (no new attempt after it), maxMessages, retries,
 * seed, oversizeBytes, replyTimeoutMs. Returns { messages, stats }.
 */
export async function runLoad(opts) {
  const { port, sessions, deadline, hardDeadline, maxMessages, retries, seed, oversizeBytes, replyTimeoutMs = 30_000 } = opts;
  const rand = prng(seed);
  const messages = [];
  const stats = { connects: 0, connectFailures: 0, reconnects421: 0, closedMidTransaction: 0, attempts: 0 };
  let next = 1;

  const nextMessage = () => {
    if (Date.now() >= deadline || messages.length >= maxMessages) return null;
    const built = buildMessage(next++, rand, { oversizeBytes });
    messages.push(built.record); // the record only: the text is dropped once sent
    return built;
  };

  async function session(index) {
    let conn = null;
    const connect = async () => {
      for (let i = 0; i < 20 && Date.now() < hardDeadline; i++) {
        stats.connects++;
        const c = await Connection.open(port, 5000);
        if (c) {
          const greeting = await c.read(replyTimeoutMs);
          if (greeting.code === 220) {
            const ehlo = await c.command(`EHLO soak-client-${index}.${INTERNAL_DOMAIN}`, replyTimeoutMs);
            if (ehlo.code === 250) return c;
          }
          c.socket.destroy();
        }
        stats.connectFailures++;
        await sleep(100 + 100 * i);
      }
      return null;
    };
    const drop = () => { if (conn) { conn.socket.destroy(); conn = null; } };

    /** One attempt of one message; returns { code, text, stage }. */
    const attempt = async (message, wire) => {
      if (!conn || conn.closed) {
        conn = await connect();
        if (!conn) return { code: 0, text: 'could not connect', stage: 'connect' };
      }
      stats.attempts++;
      const step = async (line, stage, okCodes) => {
        const r = await conn.command(line, replyTimeoutMs);
        return okCodes.includes(r.code) ? null : { ...r, stage };
      };
      let fail = await step(`MAIL FROM:<${message.mailFrom}>`, 'mail', [250]);
      for (const rcpt of message.rcpts) {
        if (fail) break;
        fail = await step(`RCPT TO:<${rcpt}>`, 'rcpt', [250, 251]);
      }
      if (!fail) fail = await step('DATA', 'data', [354]);
      if (fail) {
        if (fail.code === 421 || fail.code === 0) drop();
        else if (conn) {
          const rset = await conn.command('RSET', replyTimeoutMs);
          if (rset.code !== 250) drop();
        }
        return fail;
      }
      conn.socket.write(wire);
      const final = await conn.read(replyTimeoutMs);
      if (final.code === 0) stats.closedMidTransaction++;
      if (final.code === 421 || final.code === 0) drop();
      return { ...final, stage: 'dot' };
    };

    // Bounded: at most maxMessages messages overall, each at most retries+1 attempts.
    for (let built = nextMessage(); built; built = nextMessage()) {
      const m = built.record;
      const wire = wireData(built.text);
      for (let a = 0; a <= retries; a++) {
        const r = await attempt(m, wire);
        m.attempts.push({ code: r.code, text: r.text, stage: r.stage });
        m.final = r;
        const transient = r.code === 0 || (r.code >= 400 && r.code < 500);
        if (!transient || Date.now() >= hardDeadline) break;
        if (r.code === 421) stats.reconnects421++;
        await sleep(50 + Math.floor(Math.random() * 150));
      }
    }
    if (conn) conn.close();
  }

  await Promise.all(Array.from({ length: sessions }, (_, i) => session(i)));
  return { messages, stats };
}
