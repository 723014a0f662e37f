#!/usr/bin/env node
// Node stand-in for Postfix's smtp-sink: raw net, minimal SMTP (PIPELINING
// tolerated), throws messages away and counts them. Writes the same running
// counter as `smtp-sink -c` ("sess=S quit=Q mesg=M\r"), at most every 20 ms.
//
//   node bench/sink.mjs PORT [HOST]     (HOST defaults to 127.0.0.1)
import fs from 'node:fs';
import net from 'node:net';

const port = Number(process.argv[2]);
const host = process.argv[3] ?? '127.0.0.1';
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: node bench/sink.mjs PORT [HOST]\n');
  process.exit(2);
}

let sessions = 0;
let quits = 0;
let messages = 0;
let dirty = false;

const EHLO_REPLY = '250-node-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 0\r\n250 ENHANCEDSTATUSCODES\r\n';
const END = Buffer.from('\r\n.\r\n', 'latin1');
const MAX_LINE = 8192;

function handle(socket) {
  socket.setNoDelay(true);
  let inData = false;
  let quitting = false;
  let line = Buffer.alloc(0);
  let tail = Buffer.alloc(0); // last bytes of the data stream, to find "\r\n.\r\n" across chunks

  const command = (text) => {
    const verb = text.slice(0, 4).toUpperCase();
    switch (verb) {
      case 'EHLO':
        return EHLO_REPLY;
      case 'HELO':
        return '250 node-sink\r\n';
      case 'MAIL':
      case 'RCPT':
      case 'RSET':
      case 'NOOP':
        return '250 2.0.0 Ok\r\n';
      case 'DATA':
        inData = true;
        tail = Buffer.from('\r\n', 'latin1'); // the DATA line's CRLF: an empty message ends with ".\r\n"
        return '354 End data with <CR><LF>.<CR><LF>\r\n';
      case 'QUIT':
        quits++;
        dirty = true;
        quitting = true;
        return '221 2.0.0 Bye\r\n';
      default:
        return '502 5.5.2 Error: command not recognized\r\n';
    }
  };

  socket.on('data', (chunk) => {
    let out = '';
    let offset = 0;
    while (offset < chunk.length) {
      if (inData) {
        // tail holds at most 4 bytes, so the copy is one chunk at most.
        const hay = Buffer.concat([tail, chunk.subarray(offset)]);
        const end = hay.indexOf(END);
        if (end === -1) {
          tail = Buffer.from(hay.subarray(Math.max(0, hay.length - 4)));
          offset = chunk.length;
        } else {
          offset += end + END.length - tail.length;
          tail = Buffer.alloc(0);
          inData = false;
          messages++;
          dirty = true;
          out += '250 2.0.0 Ok: queued\r\n';
        }
        continue;
      }
      const nl = chunk.indexOf(0x0a, offset);
      if (nl === -1) {
        line = Buffer.concat([line, chunk.subarray(offset)]);
        if (line.length > MAX_LINE) {
          socket.destroy();
          return;
        }
        break;
      }
      const full = Buffer.concat([line, chunk.subarray(offset, nl)])
        .toString('latin1')
        .replace(/\r$/, '');
      line = Buffer.alloc(0);
      offset = nl + 1;
      out += command(full);
      if (quitting) {
        socket.end(out);
        return;
      }
    }
    if (out) socket.write(out);
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    dirty = true;
  });
}

const server = net.createServer((socket) => {
  sessions++;
  dirty = true;
  socket.write('220 node-sink ESMTP\r\n');
  handle(socket);
});
server.maxConnections = 1000;
server.listen({ host, port, backlog: 1000 });
server.on('error', (error) => {
  process.stderr.write(`sink: ${error.message}\n`);
  process.exit(1);
});

setInterval(() => {
  if (!dirty) return;
  dirty = false;
  fs.writeSync(1, `sess=${sessions} quit=${quits} mesg=${messages}\r`);
}, 20);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    fs.writeSync(1, `sess=${sessions} quit=${quits} mesg=${messages}\r\n`);
    process.exit(0);
  });
}
