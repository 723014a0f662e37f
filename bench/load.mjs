#!/usr/bin/env node
// Node SMTP load generator: raw net sockets, no pipelining (like smtp-source),
// N sessions in parallel, one message per connection or many per connection,
// per-message latency. Bounded by a message count AND a duration.
//
//   node bench/load.mjs '{"port":2525,"sessions":20,"messages":10000,"durationMs":5000,
//                         "persistent":true,"size":5120,"recipients":1,"split":false}'
//   "messageFile": "/path" sends that file (LF or CRLF lines) as every message instead of the
//   generated header and `size` bytes of body, as smtp-source -F does (the content scenarios)
// prints one JSON line: { ok, failed, elapsedMs, rate, latency: {p50,p90,p99,max}, errors }
import fs from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { HELO, SENDER, body, header, numberedRecipients, splitSubject } from './messages.mjs';

class Connection {
  constructor(socket, timeoutMs) {
    this.socket = socket;
    this.partial = '';
    this.lines = [];
    this.replies = [];
    this.waiter = null;
    this.error = null;
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no reply within ${timeoutMs} ms`)));
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  onData(chunk) {
    const text = this.partial + chunk;
    const parts = text.split('\r\n');
    this.partial = parts.pop();
    if (this.partial.length > 65536) return this.socket.destroy(new Error('reply line too long'));
    for (const line of parts) {
      this.lines.push(line);
      if (line.length < 4 || line[3] !== '-') {
        // last line of a (multi-line) reply
        this.replies.push({ code: Number(line.slice(0, 3)), text: this.lines.join(' | ') });
        this.lines = [];
      }
    }
    this.wake();
  }

  fail(error) {
    if (!this.error) this.error = error;
    this.wake();
  }

  wake() {
    if (this.waiter && (this.replies.length || this.error)) {
      const waiter = this.waiter;
      this.waiter = null;
      waiter();
    }
  }

  async reply() {
    if (!this.replies.length && !this.error)
      await new Promise((resolve) => {
        this.waiter = resolve;
      });
    if (this.replies.length) return this.replies.shift();
    throw this.error;
  }

  async expect(code, what) {
    const reply = await this.reply();
    if (reply.code !== code) throw new Error(`${what}: ${reply.text.slice(0, 200)}`);
    return reply;
  }

  send(text) {
    this.socket.write(text);
  }

  close() {
    this.socket.destroy();
  }
}

function connect(host, port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const onError = (error) => reject(error);
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(new Connection(socket, timeoutMs));
    });
  });
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

/** A message file as DATA sends it: CRLF lines, a leading dot doubled, ending in CRLF. */
function fileMessage(file) {
  const text = fs.readFileSync(file, 'latin1').replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
  return Buffer.from(text.endsWith('\r\n') ? text : text + '\r\n', 'latin1');
}

export async function runLoad(options) {
  const {
    host = '127.0.0.1',
    port,
    sessions = 20,
    messages = 1000,
    durationMs = 10000,
    persistent = true,
    size = 5120,
    recipients = 1,
    split = false,
    commandTimeoutMs = 60000,
    maxFailures = 100,
    messageFile = null,
  } = options;
  const payload = body(size);
  const fixedMessage = messageFile === null ? null : fileMessage(messageFile);
  const rcpts = numberedRecipients(recipients);
  const subject = split ? splitSubject(recipients) : null;
  const mailCommand = `MAIL FROM:<${SENDER}>\r\n`;
  const rcptCommands = rcpts.map((r) => `RCPT TO:<${r}>\r\n`);

  const latencies = [];
  const errors = new Map();
  let started = 0;
  let ok = 0;
  let failed = 0;
  let stop = false;
  const t0 = performance.now();
  const deadline = t0 + durationMs;
  let lastDone = t0;

  const claim = () => {
    if (stop || started >= messages || performance.now() >= deadline) return false;
    started++;
    return true;
  };
  const noteError = (error) => {
    failed++;
    const key = String(error?.message ?? error).slice(0, 160);
    errors.set(key, (errors.get(key) ?? 0) + 1);
    if (failed >= maxFailures) stop = true;
  };

  const openSession = async () => {
    const conn = await connect(host, port, commandTimeoutMs);
    try {
      await conn.expect(220, 'greeting');
      conn.send(`HELO ${HELO}\r\n`);
      await conn.expect(250, 'HELO');
    } catch (error) {
      conn.close();
      throw error;
    }
    return conn;
  };

  const sendOne = async (conn, seq) => {
    conn.send(mailCommand);
    await conn.expect(250, 'MAIL');
    for (const command of rcptCommands) {
      conn.send(command);
      await conn.expect(250, 'RCPT');
    }
    conn.send('DATA\r\n');
    await conn.expect(354, 'DATA');
    const { socket } = conn;
    socket.cork();
    if (fixedMessage) socket.write(fixedMessage);
    else {
      socket.write(header(seq, { subject }));
      socket.write(payload);
    }
    socket.write('.\r\n');
    socket.uncork();
    await conn.expect(250, 'end of data');
  };

  const session = async () => {
    let conn = null;
    while (claim()) {
      const seq = started;
      let begin = performance.now();
      try {
        if (!conn) {
          conn = await openSession();
          if (persistent) begin = performance.now(); // latency of a message, not of the session set-up
        }
        await sendOne(conn, seq);
        const end = performance.now();
        latencies.push(end - begin);
        lastDone = end;
        ok++;
        if (!persistent) {
          conn.send('QUIT\r\n');
          await Promise.race([conn.reply().catch(() => null), new Promise((r) => setTimeout(r, 1000))]);
          conn.close();
          conn = null;
        }
      } catch (error) {
        noteError(error);
        conn?.close();
        conn = null;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    if (conn) {
      conn.send('QUIT\r\n');
      await Promise.race([conn.reply().catch(() => null), new Promise((r) => setTimeout(r, 1000))]);
      conn.close();
    }
  };

  await Promise.all(Array.from({ length: sessions }, () => session()));
  const elapsedMs = Math.max(1, lastDone - t0);
  const sorted = Float64Array.from(latencies).sort();
  return {
    ok,
    failed,
    elapsedMs,
    rate: (ok * 1000) / elapsedMs,
    latency: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1] : null,
    },
    errors: [...errors].map(([message, count]) => ({ message, count })),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const options = JSON.parse(process.argv[2] ?? '{}');
  const hardStop = setTimeout(
    () => {
      process.stderr.write('load: hard time limit reached\n');
      process.exit(3);
    },
    (options.durationMs ?? 10000) + (options.commandTimeoutMs ?? 60000) + 5000,
  );
  hardStop.unref();
  runLoad(options).then(
    (result) => {
      process.stdout.write(JSON.stringify(result) + '\n');
      process.exit(0);
    },
    (error) => {
      process.stderr.write(`load: ${error?.stack ?? error}\n`);
      process.exit(2);
    },
  );
}
