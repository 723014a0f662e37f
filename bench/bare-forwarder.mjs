#!/usr/bin/env node
// The reference of issue 2 ("Speed and memory"): a bare smtp-server -> pooled
// nodemailer SMTPConnection forwarder. No analysis, no policy: receive the
// message into one Buffer, send it upstream over a persistent connection from a
// small pool, answer 250 with the upstream's reply or 451 on any error.
//
//   node bench/bare-forwarder.mjs LISTEN_PORT UPSTREAM_PORT [POOL_SIZE=20]
//
// Listens on 127.0.0.1:LISTEN_PORT, relays to 127.0.0.1:UPSTREAM_PORT and
// prints one line once listening. Like mail-guard for allow-listed clients it
// greets at once (smtp-server otherwise holds every connection 100 ms before
// the greeting), so the one-connection-per-message comparison is fair.
import { SMTPServer } from 'smtp-server';
import { SMTPConnection as ServerConnection } from 'smtp-server/lib/smtp-connection.js';
import SMTPConnection from 'nodemailer/lib/smtp-connection';

const [listenPort, upstreamPort, poolArg] = process.argv.slice(2).map(Number);
const POOL_SIZE = Number.isInteger(poolArg) && poolArg > 0 ? poolArg : 20;
if (!Number.isInteger(listenPort) || !Number.isInteger(upstreamPort)) {
  process.stderr.write('usage: node bench/bare-forwarder.mjs LISTEN_PORT UPSTREAM_PORT [POOL_SIZE]\n');
  process.exit(2);
}
const HOST = '127.0.0.1';

/** Persistent upstream connections: connect once, reuse; callers queue when all are busy. */
class Pool {
  constructor(size) {
    this.size = size;
    this.open = 0; // connected or connecting
    this.idle = [];
    this.waiters = [];
  }

  acquire(callback) {
    while (this.idle.length) {
      const conn = this.idle.pop();
      if (!conn.dead) return callback(null, conn);
    }
    if (this.open < this.size) return this.#connect(callback);
    this.waiters.push(callback);
  }

  release(conn) {
    if (conn.dead) return this.#replaceForWaiter();
    const next = this.waiters.shift();
    if (next) next(null, conn);
    else this.idle.push(conn);
  }

  /** Drops a connection after an error; a queued caller gets a new one. */
  discard(conn) {
    this.#kill(conn);
    this.#replaceForWaiter();
  }

  #replaceForWaiter() {
    const next = this.waiters.shift();
    if (next) this.acquire(next);
  }

  #kill(conn) {
    if (conn.dead) return;
    conn.dead = true;
    this.open--;
    try {
      conn.close();
    } catch {
      /* already closed */
    }
  }

  #connect(callback) {
    this.open++;
    const conn = new SMTPConnection({ host: HOST, port: upstreamPort, secure: false, ignoreTLS: true, logger: false });
    conn.dead = false;
    // Before the handshake ends a failure may come as 'error', as 'end' or through
    // connect()'s callback: the first one settles. After it, any error or close
    // (also while idle) means the connection is gone.
    let settled = false;
    const settle = (err) => {
      if (settled) return;
      settled = true;
      if (err) {
        this.#kill(conn);
        callback(err);
      } else {
        callback(null, conn);
      }
    };
    conn.on('error', (err) => (settled ? this.#kill(conn) : settle(err)));
    conn.once('end', () => {
      if (!settled) return settle(new Error('upstream closed before the handshake ended'));
      if (!conn.dead) {
        conn.dead = true;
        this.open--;
      }
    });
    conn.connect((err) => settle(err ?? null));
  }

  /** Opens every connection up front (the "connect once" of a warm forwarder). */
  warm() {
    const opening = [];
    for (let i = this.open; i < this.size; i++) {
      opening.push(
        new Promise((resolve) =>
          this.#connect((err, conn) => {
            if (conn) this.release(conn);
            resolve(err ?? null);
          }),
        ),
      );
    }
    return Promise.all(opening);
  }
}

const pool = new Pool(POOL_SIZE);

const tempFailure = (err) => {
  const error = new Error(
    `upstream: ${String(err?.message ?? err)
      .split('\n')[0]
      .slice(0, 200)}`,
  );
  error.responseCode = 451;
  return error;
};

/**
 * smtp-server's connect() without the fixed 100 ms wait before the greeting
 * (the same override as mail-guard's GreetingWithoutWaitServer in src/smtp/greeting-without-wait.ts,
 * here for every client).
 */
class GreetAtOnceServer extends SMTPServer {
  connect(socket, socketOptions) {
    const connection = new ServerConnection(this, socket, socketOptions);
    this.connections.add(connection);
    connection.on('error', (err) => this._onError(err));
    connection.on('connect', (data) => this._onClientConnect(data));
    connection._setListeners(() => {
      if (this.options.maxClients && this.connections.size > this.options.maxClients) {
        connection.send(421, '4.7.0 Too many connected clients, try again in a moment');
        return;
      }
      connection.connectionReady();
    });
  }
}

const server = new GreetAtOnceServer({
  disableReverseLookup: true,
  authOptional: true,
  size: 52428800,
  logger: false,

  onData(stream, session, callback) {
    const chunks = [];
    let size = 0;
    stream.on('data', (chunk) => {
      chunks.push(chunk);
      size += chunk.length;
    });
    stream.once('end', () => {
      if (stream.sizeExceeded) {
        const error = new Error('Message exceeds the size limit');
        error.responseCode = 552;
        return callback(error);
      }
      const message = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      const envelope = {
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        to: session.envelope.rcptTo.map((r) => r.address),
      };
      pool.acquire((err, conn) => {
        if (err) return callback(tempFailure(err));
        conn.send(envelope, message, (sendErr, info) => {
          if (sendErr) {
            pool.discard(conn);
            return callback(tempFailure(sendErr));
          }
          pool.release(conn);
          // smtp-server prefixes the 250 itself.
          callback(null, String(info?.response ?? 'OK').replace(/^\d{3}[ -]/, ''));
        });
      });
    });
  },
});
server.on('error', () => {
  /* client resets (a capped smtp-source run) are expected */
});

const failures = (await pool.warm()).filter(Boolean);
if (failures.length === POOL_SIZE) {
  process.stderr.write(`bare-forwarder: no upstream connection to ${HOST}:${upstreamPort}: ${failures[0].message}\n`);
  process.exit(1);
}
server.listen(listenPort, HOST, () => {
  process.stdout.write(
    `bare-forwarder listening on ${HOST}:${listenPort}, upstream ${HOST}:${upstreamPort}, ` + `pool ${POOL_SIZE} (${POOL_SIZE - failures.length} connected)\n`,
  );
});
