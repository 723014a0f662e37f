// A deliberately LENIENT SMTP upstream for smuggling tests (THREATS.md
// "Protocol and smuggling"): a raw net server on 127.0.0.1 that, like the
// receivers of the 2023 SMTP smuggling advisories, ends DATA on ANY line break
// + "." + line break: `\r\n.\r\n`, `\n.\n`, `\r.\r`, `\n.\r\n`, `\r\n.\n`,
// `\r.\n`, ... With `stripNul` it also drops NUL bytes inside DATA first (some
// receivers do), so `\r\n\0.\r\n` ends DATA too. Whatever follows the end is
// read as commands. It records every MAIL FROM and every transaction it sees.
//
// If the proxy in front of it lets a non-standard end-of-data sequence through
// unescaped, this server sees a second MAIL FROM / transaction.

import net from 'node:net';

export interface LenientTransaction {
  readonly mailFrom: string;
  readonly rcptTo: string[];
  /** DATA content as received (not dot-unstuffed), without the terminator. */
  readonly data: Buffer;
}

export interface LenientUpstream {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Every MAIL FROM argument (address inside <>), in order. */
  readonly mailFroms: string[];
  /** Every completed DATA phase. */
  readonly transactions: LenientTransaction[];
  /** Every command line received, as text (latin1). */
  readonly commands: string[];
  close(): Promise<void>;
}

// Any line break, a dot, any line break. CRLF is tried first on both sides.
const LENIENT_END = /(?:\r\n|\n|\r)\.(?:\r\n|\n|\r)/;

export async function startLenientUpstream(options: { stripNul?: boolean } = {}): Promise<LenientUpstream> {
  const mailFroms: string[] = [];
  const transactions: LenientTransaction[] = [];
  const commands: string[] = [];
  const sockets = new Set<net.Socket>();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let mode: 'command' | 'data' = 'command';
    // latin1: one char per byte, so the text is the bytes.
    let buffer = '';
    // DATA content so far; starts with a virtual line break (the one ending the DATA command).
    let data = '\r\n';
    let skipLf = false;
    let mailFrom: string | null = null;
    let rcptTo: string[] = [];
    const reply = (line: string) => {
      if (!socket.destroyed) socket.write(line + '\r\n');
    };

    const command = (line: string) => {
      commands.push(line);
      const verb = line.slice(0, 4).toUpperCase();
      const arg = line
        .slice(line.indexOf(':') + 1)
        .trim()
        .replace(/^<|>.*$/g, '');
      if (verb === 'EHLO') {
        socket.write('250-lenient.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n');
      } else if (verb === 'HELO') reply('250 lenient.test');
      else if (verb === 'MAIL') {
        mailFrom = arg;
        mailFroms.push(arg);
        rcptTo = [];
        reply('250 2.1.0 Ok');
      } else if (verb === 'RCPT') {
        rcptTo.push(arg);
        reply('250 2.1.5 Ok');
      } else if (verb === 'DATA') {
        reply('354 End data with <CR><LF>.<CR><LF> (or anything like it)');
        mode = 'data';
        data = '\r\n';
      } else if (verb === 'RSET') {
        mailFrom = null;
        rcptTo = [];
        reply('250 2.0.0 Ok');
      } else if (verb === 'QUIT') {
        reply('221 2.0.0 Bye');
        socket.end();
      } else if (verb === 'NOOP') reply('250 2.0.0 Ok');
      else reply('500 5.5.2 Unrecognised command');
    };

    const pump = () => {
      for (;;) {
        if (skipLf && buffer.length > 0) {
          if (buffer[0] === '\n') buffer = buffer.slice(1);
          skipLf = false;
        }
        if (mode === 'command') {
          // Lenient here too: LF alone ends a command line.
          const lf = buffer.indexOf('\n');
          if (lf === -1) return;
          const line = buffer.slice(0, lf).replace(/\r$/, '');
          buffer = buffer.slice(lf + 1);
          if (line !== '') command(line);
        } else {
          data += options.stripNul ? buffer.replace(/\0/g, '') : buffer;
          buffer = '';
          const m = LENIENT_END.exec(data);
          if (!m) return;
          const content = data.slice(2, Math.max(2, m.index + m[0].indexOf('.')));
          buffer = data.slice(m.index + m[0].length);
          // "\r.\r" might be the start of "\r.\r\n": drop that LF if it comes.
          skipLf = m[0].endsWith('\r');
          data = '\r\n';
          mode = 'command';
          transactions.push({ mailFrom: mailFrom ?? '(none)', rcptTo, data: Buffer.from(content, 'latin1') });
          mailFrom = null;
          rcptTo = [];
          reply('250 2.0.0 Ok: queued');
        }
      }
    };

    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      pump();
    });
    reply('220 lenient.test ESMTP');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('lenient upstream: no port');

  return {
    host: '127.0.0.1',
    port: address.port,
    mailFroms,
    transactions,
    commands,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
