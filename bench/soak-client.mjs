// The soak's load: N concurrent raw-socket SMTP sessions against mail-guard,
// each kept open and reused for several messages, reconnecting on 421 or a
// closed connection. A message that gets a 4xx (or loses its connection before
// the final reply) is retried byte-for-byte, as a mailer would, up to `retries`
// times; what counts is the last reply. Every message is recorded with its id,
// kind, the session kind that sent it, envelope, every attempt's reply and the
// final reply.
//
// Session kinds (issue 9: the soak must hold with STARTTLS and AUTH sessions):
//   plain        EHLO, then mail; reconnects only on 421 or a lost connection.
//   tls-auth     EHLO, STARTTLS (server verified against the soak CA), EHLO,
//                AUTH PLAIN with the right password, then mail. On top of the
//                plain reconnects it QUITs after 5 … 20 messages and connects
//                anew: a mailer's queue run does that, and it is what makes a
//                per-client slot that STARTTLS never gives back show up (421
//                Too many connections once the leaked slots reach the cap).
//   tls-badauth  as tls-auth, but AUTH PLAIN with a wrong password (535), then
//                mail unauthenticated (auth is optional in the soak). Wrong
//                attempts come from a budget shared by the whole run, because
//                the auth limiter counts failures per client address and every
//                soak session is 127.0.0.1: 5 in 10 minutes would lock out the
//                correct logins too. Once the budget is spent these sessions
//                carry on as STARTTLS sessions without AUTH.
// What each session kind met while connecting (greetings, STARTTLS, AUTH
// replies) is counted in stats.sessions[kind].
import net from 'node:net';
import tls from 'node:tls';
import { prng } from './soak-upstream.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const INTERNAL_DOMAIN = 'example.co.jp';
export const HOLD_SENDER = 'hold@example.co.jp';
// Issue 12: mail from DELAY_SENDER waits in the delay window (a rule with
// delaySeconds) and then leaves; PAUSED_SENDER sends a mix of exposing and
// clean mail until its breaker opens, after which all of it is held.
export const DELAY_SENDER = 'delay@example.co.jp';
export const PAUSED_SENDER = 'paused@example.co.jp';
export const isExternal = (address) => !address.toLowerCase().endsWith('@' + INTERNAL_DOMAIN);

/** Kind mix (weights). */
const MIX = [
  ['clean', 50],
  ['exposing', 25],
  ['held', 10],
  ['malformed', 12],
  ['oversized', 3],
  ['delayed', 5],
  ['paused', 5],
];
const MIX_TOTAL = MIX.reduce((a, [, w]) => a + w, 0);

/** Builds message n (deterministic for a given rand). */
export function buildMessage(n, rand, { oversizeBytes }) {
  let pick = rand() * MIX_TOTAL;
  let kind = MIX[0][0];
  for (const [k, w] of MIX) {
    if (pick < w) {
      kind = k;
      break;
    }
    pick -= w;
  }
  const ext = () => `u${Math.floor(rand() * 5000)}@partner${Math.floor(rand() * 40)}.example.net`;
  const distinctExternals = (count) => {
    const set = new Set();
    for (let i = 0; i < count * 4 && set.size < count; i++) set.add(ext());
    return [...set];
  };
  // paused: half of it exposes recipients (violations that open the sender's breaker), half is clean.
  const pausedExposing = kind === 'paused' && rand() < 0.5;
  // Each exposing message has a sender of its own, so that only PAUSED_SENDER (and
  // HOLD_SENDER, whose mail is held anyway) collects enough violations to open a breaker.
  const sender =
    kind === 'held'
      ? HOLD_SENDER
      : kind === 'delayed'
        ? DELAY_SENDER
        : kind === 'paused'
          ? PAUSED_SENDER
          : kind === 'exposing'
            ? `list${n}@${INTERNAL_DOMAIN}`
            : `sender${Math.floor(rand() * 50)}@${INTERNAL_DOMAIN}`;
  let to;
  let cc = [];
  let rcpts;
  if (kind === 'clean' || kind === 'malformed' || kind === 'oversized' || kind === 'delayed' || (kind === 'paused' && !pausedExposing)) {
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
  return {
    record: { id: n, kind, mailFrom: sender, rcpts, exposing: kind === 'exposing' || kind === 'held' || pausedExposing, attempts: [], final: null },
    text,
  };
}

/** Wire form of a message's DATA section, dot-stuffed, with the terminator. */
function wireData(text) {
  return text.replace(/\r\n\./g, '\r\n..').replace(/^\./, '..') + '.\r\n';
}

export const SESSION_KINDS = ['plain', 'tls-auth', 'tls-badauth'];

/**
 * One SMTP client connection with a reply queue. `read(timeoutMs)` resolves
 * { code, text } or { code: 0, text: 'closed'|'timeout' }.
 */
class Connection {
  constructor(socket) {
    this.buffer = '';
    this.lines = [];
    this.replies = [];
    this.waiter = null;
    this.closed = false;
    this.onDataBound = (chunk) => this.#onData(typeof chunk === 'string' ? chunk : chunk.toString('latin1'));
    this.onCloseBound = () => {
      this.closed = true;
      this.#deliver({ code: 0, text: 'closed' });
    };
    socket.setNoDelay(true);
    socket.on('error', () => {});
    this.#attach(socket);
  }

  // No setEncoding: the raw socket may be handed to TLS later, so chunks stay
  // Buffers and are decoded here (latin1: byte for byte, SMTP replies are ASCII).
  #attach(socket) {
    this.socket = socket;
    socket.on('data', this.onDataBound);
    socket.on('close', this.onCloseBound);
  }

  /**
   * STARTTLS after the server's 220: the handshake verifies the certificate
   * against `ca` for `servername` (Node's default rejectUnauthorized). Resolves
   * null, or an Error after which the connection is closed.
   */
  upgrade({ ca, servername, timeoutMs }) {
    const raw = this.socket;
    raw.removeListener('data', this.onDataBound);
    raw.removeListener('close', this.onCloseBound);
    return new Promise((resolve) => {
      const secure = tls.connect({ socket: raw, ca: [ca], servername, minVersion: 'TLSv1.2' });
      let settled = false;
      const done = (error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) {
          this.closed = true;
          secure.destroy();
          raw.destroy();
        }
        resolve(error);
      };
      const timer = setTimeout(() => done(new Error('TLS handshake timeout')), timeoutMs);
      secure.on('error', (error) => done(error));
      secure.once('secureConnect', () => {
        if (!secure.authorized) return done(new Error(`not authorized: ${secure.authorizationError}`));
        this.#attach(secure);
        done(null);
      });
    });
  }

  static open(port, timeoutMs) {
    return new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(null);
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new Connection(socket));
      });
      socket.once('error', () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(null);
      });
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
      this.waiter = (reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
    });
  }

  async command(line, timeoutMs) {
    if (this.closed) return { code: 0, text: 'closed' };
    this.socket.write(line + '\r\n');
    return this.read(timeoutMs);
  }

  /** QUIT, wait for the 221 and the server's close (bounded), then make sure the socket is gone. */
  async quit(timeoutMs) {
    if (this.closed) return;
    const closed = new Promise((resolve) => this.socket.once('close', resolve));
    const reply = await this.command('QUIT', timeoutMs);
    // Waiting for the close lets the server release this connection before the
    // session dials again: a reconnect must not race its own predecessor's slot.
    if (reply.code === 221) await Promise.race([closed, sleep(timeoutMs)]);
    this.socket.destroy();
  }

  close() {
    if (!this.closed) {
      try {
        this.socket.end('QUIT\r\n');
      } catch {
        /* gone */
      }
      setTimeout(() => this.socket.destroy(), 500).unref();
    }
  }
}

/** Session kinds for `sessions` sessions: ~40% tls-auth, a couple of tls-badauth, the rest plain. */
export function sessionKinds(sessions) {
  const tlsAuth = Math.round(sessions * 0.4);
  const badAuth = sessions >= 10 ? 2 : sessions >= 3 ? 1 : 0;
  const plain = Math.max(0, sessions - tlsAuth - badAuth);
  // Interleaved so that each kind is spread over the start-up rather than bunched.
  const left = { plain, 'tls-auth': tlsAuth, 'tls-badauth': badAuth };
  const kinds = [];
  while (kinds.length < sessions) {
    for (const k of SESSION_KINDS)
      if (left[k] > 0 && kinds.length < sessions) {
        kinds.push(k);
        left[k]--;
      }
  }
  return kinds;
}

const sessionStats = () => ({
  sessions: 0,
  connects: 0,
  ready: 0,
  connectFailures: 0,
  refusedTooMany: 0,
  otherGreeting: 0,
  ehloFailed: 0,
  starttls: 0,
  starttlsRefused: 0,
  tlsFailed: 0,
  tlsErrors: new Map(),
  authNotOffered: 0,
  auth235: 0,
  auth535: 0,
  authLockout: 0,
  authOther: new Map(),
  wrongAccepted: 0,
  quits: 0,
});

const bump = (map, key) => map.set(key, (map.get(key) ?? 0) + 1);

/**
 * Runs the load. Options: port, sessions, deadline (ms epoch: no new message
 * after it), hardDeadline (no new attempt after it), maxMessages, retries,
 * seed, oversizeBytes, replyTimeoutMs, and for the STARTTLS sessions tls
 * ({ ca, servername }), auth ({ user, password }) and badAuthBudget (wrong AUTH
 * attempts in the whole run). Returns { messages, stats }; stats.sessions has
 * one sessionStats() per session kind.
 */
export async function runLoad(opts) {
  const { port, sessions, deadline, hardDeadline, maxMessages, retries, seed, oversizeBytes, replyTimeoutMs = 30_000 } = opts;
  // Several mail-guard instances (SOAK_INSTANCES): session i talks to ports[i % n] for the whole run.
  const ports = opts.ports ?? [port];
  const { tls: tlsOptions = null, auth = null } = opts;
  let badAuthBudget = opts.badAuthBudget ?? 0;
  const kinds = tlsOptions && auth ? sessionKinds(sessions) : Array(sessions).fill('plain');
  const rand = prng(seed);
  const messages = [];
  const stats = {
    connects: 0,
    connectFailures: 0,
    reconnects421: 0,
    closedMidTransaction: 0,
    attempts: 0,
    sessions: Object.fromEntries(SESSION_KINDS.map((k) => [k, sessionStats()])),
    badAuthBudget,
  };
  const plainAuth = (user, password) => Buffer.from(`\0${user}\0${password}`, 'utf8').toString('base64');
  let next = 1;

  const nextMessage = (sessionKind, instance) => {
    if (Date.now() >= deadline || messages.length >= maxMessages) return null;
    const built = buildMessage(next++, rand, { oversizeBytes });
    built.record.session = sessionKind;
    built.record.instance = instance;
    messages.push(built.record); // the record only: the text is dropped once sent
    return built;
  };

  async function session(index) {
    const kind = kinds[index];
    const instance = index % ports.length;
    const st = stats.sessions[kind];
    st.sessions++;
    // Per session, so the reconnect rhythm does not depend on how the sessions interleave.
    const own = prng(seed + 7919 * (index + 1));
    const messagesPerConnection = () => 5 + Math.floor(own() * 16); // 5 … 20
    let conn = null;
    let sentOnConn = 0;

    /** One connection made ready for MAIL: { conn } or { fail: { code, text } }. */
    const open = async () => {
      stats.connects++;
      st.connects++;
      const c = await Connection.open(ports[instance], 5000);
      if (!c) return { fail: { code: 0, text: 'connect failed' } };
      const failWith = (r, counter) => {
        if (counter) st[counter]++;
        c.socket.destroy();
        return { fail: r };
      };
      const greeting = await c.read(replyTimeoutMs);
      if (greeting.code !== 220) {
        // The per-client cap says "Too many connections": with a cap above the
        // session count it only happens when slots are not given back.
        return failWith(greeting, /too many connections/i.test(greeting.text) ? 'refusedTooMany' : 'otherGreeting');
      }
      const ehlo = await c.command(`EHLO soak-client-${index}.${INTERNAL_DOMAIN}`, replyTimeoutMs);
      if (ehlo.code !== 250) return failWith(ehlo, 'ehloFailed');
      if (kind === 'plain') return { conn: c };

      st.starttls++;
      const starttls = await c.command('STARTTLS', replyTimeoutMs);
      if (starttls.code !== 220) return failWith(starttls, 'starttlsRefused');
      const tlsError = await c.upgrade({ ...tlsOptions, timeoutMs: replyTimeoutMs });
      if (tlsError) {
        st.tlsFailed++;
        bump(st.tlsErrors, String(tlsError.code ?? tlsError.message).slice(0, 80));
        return { fail: { code: 0, text: `TLS: ${tlsError.code ?? tlsError.message}` } };
      }
      const ehlo2 = await c.command(`EHLO soak-client-${index}.${INTERNAL_DOMAIN}`, replyTimeoutMs);
      if (ehlo2.code !== 250) return failWith(ehlo2, 'ehloFailed');
      if (!/\bAUTH\b[^]*\bPLAIN\b/i.test(ehlo2.text)) return failWith({ code: 0, text: 'AUTH PLAIN not offered after STARTTLS' }, 'authNotOffered');

      let right = kind === 'tls-auth';
      if (kind === 'tls-badauth') {
        if (badAuthBudget <= 0) return { conn: c };
        badAuthBudget--; // one wrong attempt per connection, while the run's budget lasts
        right = false;
      }
      const r = await c.command(`AUTH PLAIN ${plainAuth(auth.user, right ? auth.password : auth.password + '-wrong')}`, replyTimeoutMs);
      if (r.code === 421) return failWith(r, 'authLockout');
      if (right) {
        if (r.code === 235) {
          st.auth235++;
          return { conn: c };
        }
        bump(st.authOther, `${r.code} ${r.text.slice(0, 60)}`);
        return failWith(r);
      }
      if (r.code === 535) {
        st.auth535++;
        return { conn: c };
      } // carries on unauthenticated
      if (r.code === 235) st.wrongAccepted++;
      else bump(st.authOther, `${r.code} ${r.text.slice(0, 60)}`);
      return failWith(r);
    };

    /** Up to 20 tries with a growing pause; { conn } or the last { fail }. */
    const connect = async () => {
      let last = { fail: { code: 0, text: 'could not connect' } };
      for (let i = 0; i < 20 && Date.now() < hardDeadline; i++) {
        const r = await open();
        if (r.conn) {
          st.ready++;
          sentOnConn = 0;
          return r;
        }
        stats.connectFailures++;
        st.connectFailures++;
        last = r;
        await sleep(100 + 100 * i);
      }
      return last;
    };
    const drop = () => {
      if (conn) {
        conn.socket.destroy();
        conn = null;
      }
    };
    let quitAfter = messagesPerConnection();

    /** One attempt of one message; returns { code, text, stage }. */
    const attempt = async (message, wire) => {
      if (!conn || conn.closed) {
        const r = await connect();
        // What the client last heard while connecting (a 421 from the cap, a
        // refused AUTH …) is this attempt's reply: the message did not get in.
        if (!r.conn) return { ...r.fail, stage: 'connect' };
        conn = r.conn;
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
    for (let built = nextMessage(kind, instance); built; built = nextMessage(kind, instance)) {
      const m = built.record;
      const wire = wireData(built.text);
      for (let a = 0; a <= retries; a++) {
        const r = await attempt(m, wire);
        // `at`: when the reply came (the failover soak places each reply before, in or after the window).
        m.attempts.push({ code: r.code, text: r.text, stage: r.stage, at: Date.now() });
        m.final = r;
        if (r.stage === 'dot') sentOnConn++;
        const transient = r.code === 0 || (r.code >= 400 && r.code < 500);
        if (!transient || Date.now() >= hardDeadline) break;
        if (r.code === 421) stats.reconnects421++;
        await sleep(50 + Math.floor(Math.random() * 150));
      }
      // STARTTLS sessions hang up now and then and dial again (see the header).
      if (kind !== 'plain' && conn && sentOnConn >= quitAfter) {
        st.quits++;
        await conn.quit(5000);
        conn = null;
        quitAfter = messagesPerConnection();
      }
    }
    if (conn) conn.close();
  }

  await Promise.all(Array.from({ length: sessions }, (_, i) => session(i)));
  stats.badAuthUsed = stats.badAuthBudget - badAuthBudget;
  return { messages, stats, kinds };
}
