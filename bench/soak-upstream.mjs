// The soak's scripted upstream: a raw `net` SMTP server on 127.0.0.1 that
// advertises PIPELINING, records every transaction it took the whole message
// for, and injects faults from a seeded PRNG:
//   rcpt  ~2% of transactions: the first RCPT gets 451 4.2.1 (one recipient deferred)
//   451   ~5% of DATA ends:    451 4.3.0 after the dot (not recorded: refused)
//   drop  ~2% of DATA ends:    connection destroyed right after the dot, no reply
//                              (recorded with acked=false: the upstream may keep it,
//                              so a duplicate is possible, a loss is not)
import net from 'node:net';

/** mulberry32: small, fast, deterministic. Returns () => [0, 1). */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MAX_DATA_BYTES = 8 * 1024 * 1024;
const MAX_LINE = 4096;

/** Header block of a message (first blank line), unfolded, as [name lowercased, value]. */
function headerFields(text) {
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  return head
    .replace(/\r\n[ \t]+/g, ' ')
    .split('\r\n')
    .map((line) => {
      const colon = line.indexOf(':');
      return colon === -1 ? [line.toLowerCase(), ''] : [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    });
}

const pathAddress = (arg) => {
  const m = /<([^>]*)>/.exec(arg);
  return (m ? m[1] : (arg.trim().split(/\s+/)[0] ?? '')).trim();
};

/**
 * Starts the upstream. `faults` = { rcpt, tempAfterDot, dropAfterDot } as
 * probabilities. Returns { port, records, stats, close() }; `records` gets
 * { key, mailFrom, rcpts, acked, visible, at (ms) } per transaction whose data ended.
 */
export function startScriptedUpstream({ seed = 1, faults = { rcpt: 0.02, tempAfterDot: 0.05, dropAfterDot: 0.02 } } = {}) {
  const rand = prng(seed);
  const records = [];
  const stats = { connections: 0, transactions: 0, accepted: 0, rcptFaults: 0, tempAfterDot: 0, dropAfterDot: 0, noKey: 0, protocolErrors: 0 };
  const sockets = new Set();
  let queueId = 0;

  const server = net.createServer((socket) => {
    stats.connections++;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.setTimeout(120_000, () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});

    let buffer = '';
    let mode = 'command'; // command | data | closed
    let txn = null; // { mailFrom, rcpts: [], failFirstRcpt, rcptSeen }
    let data = '';
    const out = [];
    const reply = (line) => out.push(line + '\r\n');
    const flush = () => {
      if (out.length && !socket.destroyed) socket.write(out.join(''));
      out.length = 0;
    };

    const endOfData = (raw) => {
      stats.transactions++;
      const fields = headerFields(raw);
      const key = fields.find(([n]) => n === 'x-soak-id')?.[1] ?? null;
      if (key === null) stats.noKey++;
      const visible = fields
        .filter(([n]) => n === 'to' || n === 'cc')
        .map(([, v]) => v)
        .join(', ');
      const record = { key, mailFrom: txn.mailFrom, rcpts: txn.rcpts.slice(), acked: true, visible, at: Date.now() };
      const roll = rand();
      txn = null;
      if (roll < faults.dropAfterDot) {
        stats.dropAfterDot++;
        record.acked = false;
        records.push(record); // the upstream had the whole message: it may deliver it
        flush();
        mode = 'closed';
        socket.destroy();
        return;
      }
      if (roll < faults.dropAfterDot + faults.tempAfterDot) {
        stats.tempAfterDot++;
        reply('451 4.3.0 soak: temporary failure after data, try again');
        return;
      }
      stats.accepted++;
      records.push(record);
      reply(`250 2.0.0 Ok: queued as SOAK${++queueId}`);
    };

    const command = (line) => {
      const verb = line.slice(0, 4).toUpperCase();
      const rest = line.slice(4);
      if (verb === 'EHLO') {
        txn = null;
        reply('250-soak-upstream');
        reply('250-PIPELINING');
        reply('250-8BITMIME');
        reply('250-ENHANCEDSTATUSCODES');
        reply(`250 SIZE ${MAX_DATA_BYTES}`);
      } else if (verb === 'HELO') {
        txn = null;
        reply('250 soak-upstream');
      } else if (verb === 'MAIL') {
        if (txn) {
          stats.protocolErrors++;
          reply('503 5.5.1 nested MAIL');
          return;
        }
        const arg = rest.replace(/^\s*FROM:/i, '');
        txn = { mailFrom: pathAddress(arg), rcpts: [], failFirstRcpt: rand() < faults.rcpt, rcptSeen: 0 };
        reply('250 2.1.0 Ok');
      } else if (verb === 'RCPT') {
        if (!txn) {
          stats.protocolErrors++;
          reply('503 5.5.1 need MAIL');
          return;
        }
        const rcpt = pathAddress(rest.replace(/^\s*TO:/i, ''));
        if (txn.failFirstRcpt && txn.rcptSeen++ === 0) {
          stats.rcptFaults++;
          reply('451 4.2.1 soak: mailbox busy, try again later');
          return;
        }
        txn.rcptSeen++;
        txn.rcpts.push(rcpt);
        reply('250 2.1.5 Ok');
      } else if (verb === 'DATA') {
        if (!txn) {
          stats.protocolErrors++;
          reply('503 5.5.1 need MAIL');
          return;
        }
        if (txn.rcpts.length === 0) {
          txn = null;
          reply('554 5.5.1 no valid recipients');
          return;
        }
        mode = 'data';
        data = '';
        reply('354 End data with <CR><LF>.<CR><LF>');
      } else if (verb === 'RSET') {
        txn = null;
        reply('250 2.0.0 Ok');
      } else if (verb === 'NOOP') {
        reply('250 2.0.0 Ok');
      } else if (verb === 'QUIT') {
        reply('221 2.0.0 Bye');
        flush();
        mode = 'closed';
        socket.end();
      } else {
        stats.protocolErrors++;
        reply('502 5.5.2 command not recognised');
      }
    };

    socket.on('data', (chunk) => {
      if (mode === 'closed') return;
      buffer += chunk;
      // Bounded: every pass consumes a line or a message, or waits for more bytes.
      for (let guard = 0; guard < 100_000 && mode !== 'closed'; guard++) {
        if (mode === 'command') {
          const eol = buffer.indexOf('\r\n');
          if (eol === -1) {
            if (buffer.length > MAX_LINE) {
              reply('500 5.5.6 line too long');
              flush();
              mode = 'closed';
              socket.destroy();
            }
            break;
          }
          const line = buffer.slice(0, eol);
          buffer = buffer.slice(eol + 2);
          command(line);
        } else {
          // data: the terminator is CRLF.CRLF; the data began on a fresh line (right after DATA's CRLF).
          const joined = '\r\n' + data + buffer;
          const end = joined.indexOf('\r\n.\r\n');
          if (end === -1) {
            data += buffer;
            buffer = '';
            if (data.length > MAX_DATA_BYTES) {
              reply('552 5.3.4 too big');
              flush();
              mode = 'closed';
              socket.destroy();
            }
            break;
          }
          const raw = joined.slice(2, end + 2).replace(/\r\n\.\./g, '\r\n.'); // un-stuff
          buffer = joined.slice(end + 5);
          data = '';
          mode = 'command';
          endOfData(raw);
        }
      }
      flush();
    });

    reply('220 soak-upstream ESMTP');
    flush();
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        records,
        stats,
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
            setTimeout(done, 2000).unref();
          }),
      });
    });
  });
}
