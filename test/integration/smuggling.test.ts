// THREATS.md "Protocol and smuggling" (issue 5, point 3), over real sockets:
// non-standard end-of-data sequences never reach a lenient upstream as a
// second transaction, dot lines and one-byte writes arrive unchanged, and
// garbage at every SMTP state leaves the process serving.
// (Size limit exactly / +1 byte: test/integration/proxy-actions.test.ts.)
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { crlf } from '../helpers/crlf.js';
import { startLenientUpstream, type LenientUpstream } from '../helpers/lenient-upstream.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { watchServerReads, type ServerReads } from '../helpers/server-reads.js';
import { sendOnce, TestSmtpClient } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';
import { within } from '../helpers/within.js';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function guardFor(port: number, smtp: Record<string, unknown> = {}): Promise<RunningMailGuard> {
  const guard = await startMailGuard({
    smtp,
    upstream: { host: '127.0.0.1', port, requireTLS: false },
    internalDomains: ['example.co.jp'],
  });
  stops.push(() => guard.stop());
  return guard;
}
async function lenient(options: { stripNul?: boolean } = {}): Promise<LenientUpstream> {
  const upstream = await startLenientUpstream(options);
  stops.push(() => upstream.close());
  return upstream;
}
async function recording(): Promise<RecordingUpstream> {
  const upstream = await startRecordingUpstream();
  stops.push(() => upstream.close());
  return upstream;
}

/** Opens a session and gets to the 354; the caller writes the DATA bytes itself, exactly. */
async function openData(port: number, rcpt = 'a@example.co.jp'): Promise<TestSmtpClient> {
  const { client, greeting } = await TestSmtpClient.open(port);
  expect(greeting).toMatch(/^220 /);
  expect(await client.command('EHLO mailer.test')).toMatch(/^250 /);
  expect(await client.command('MAIL FROM:<app@example.co.jp>')).toMatch(/^250 /);
  expect(await client.command(`RCPT TO:<${rcpt}>`)).toMatch(/^250 /);
  expect(await client.command('DATA')).toMatch(/^354 /);
  return client;
}

const socketOf = (client: TestSmtpClient): Socket => (client as unknown as { socket: Socket }).socket;

const SMUGGLED = crlf(
  'MAIL FROM:<evil@x>',
  'RCPT TO:<victim@ext.com>',
  'DATA',
  'From: evil@x',
  'To: victim@ext.com',
  'Subject: smuggled',
  '',
  'smuggled body',
  '',
);
const HEAD = crlf('From: app@example.co.jp', 'To: a@example.co.jp', 'Subject: smuggling attempt', '', 'first line');

// Each would end DATA at some receiver; none is `\r\n.\r\n`, so a strict
// receiver (smtp-server) reads all of them as content.
const END_SEQUENCES: ReadonlyArray<readonly [string, string]> = [
  ['\\n.\\n', '\n.\n'],
  ['\\r.\\r', '\r.\r'],
  ['\\n.\\r\\n', '\n.\r\n'],
  ['\\r\\n.\\n', '\r\n.\n'],
  ['\\r.\\n', '\r.\n'],
  ['\\n.\\r', '\n.\r'],
  ['\\r.\\r\\n', '\r.\r\n'],
  ['\\r\\n.\\r (then the smuggled line starts)', '\r\n.\r'],
];

describe('smuggling: a lenient upstream never sees a second transaction', () => {
  it.each(END_SEQUENCES)('body holding %s + MAIL/RCPT/DATA', async (_name, seq) => {
    const upstream = await lenient();
    const guard = await guardFor(upstream.port);
    const client = await openData(guard.smtpPort);
    client.writeRaw(Buffer.from(HEAD + seq + SMUGGLED + '\r\n.\r\n', 'latin1'));
    expect(await client.reply()).toMatch(/^250 /);
    // A second, clean message on the same session: still exactly one transaction each.
    const second = await client.send('app@example.co.jp', ['b@example.co.jp'], crlf('From: app@example.co.jp', 'To: b@example.co.jp', '', 'second', ''));
    expect(second.final).toMatch(/^250 /);
    await client.quit();

    expect(upstream.mailFroms).toEqual(['app@example.co.jp', 'app@example.co.jp']);
    expect(upstream.transactions.map((t) => [t.mailFrom, t.rcptTo])).toEqual([
      ['app@example.co.jp', ['a@example.co.jp']],
      ['app@example.co.jp', ['b@example.co.jp']],
    ]);
    expect(upstream.commands.some((c) => /evil@x|victim@ext\.com/i.test(c))).toBe(false);
    // The would-be commands arrived as (escaped) message content.
    expect(upstream.transactions[0]!.data.toString('latin1')).toContain('MAIL FROM:<evil@x>');
  });

  it('a NUL before the dot (\\r\\n\\0.\\r\\n) is refused with 554 5.6.0, nothing relayed', async () => {
    const upstream = await lenient();
    const guard = await guardFor(upstream.port);
    const client = await openData(guard.smtpPort);
    client.writeRaw(Buffer.from(HEAD + '\r\n\0.\r\n' + SMUGGLED + '\r\n.\r\n', 'latin1'));
    expect(await client.reply()).toMatch(/^554 5\.6\.0 Message contains a NUL byte/);
    await client.quit();
    expect(upstream.mailFroms).toEqual([]);
  });

  /** Sends HEAD + seq + SMUGGLED to a NUL-dropping lenient upstream; returns the client's final reply. */
  async function throughNulDroppingReceiver(seq: string) {
    const upstream = await lenient({ stripNul: true });
    const guard = await guardFor(upstream.port);
    const client = await openData(guard.smtpPort);
    client.writeRaw(Buffer.from(HEAD + seq + SMUGGLED + '\r\n.\r\n', 'latin1'));
    const reply = await client.reply();
    await client.quit();
    return { upstream, reply };
  }

  it('a NUL after the dot (\\r\\n.\\0\\r\\n) is refused too', async () => {
    const { upstream, reply } = await throughNulDroppingReceiver('\r\n.\0\r\n');
    expect(reply).toMatch(/^554 5\.6\.0 /);
    expect(upstream.mailFroms).toEqual([]);
  });

  // Found by this suite: a NUL before the dot used to leave the proxy as it came,
  // and a receiver that drops NULs before looking for the end of DATA then ran
  // the smuggled transaction. mail-guard now refuses any NUL in DATA.
  it.each([
    ['\\r\\n\\0.\\r\\n', '\r\n\0.\r\n'],
    ['\\n\\0.\\n', '\n\0.\n'],
  ])('a NUL before the dot (%s) against a receiver that drops NULs', async (_name, seq) => {
    const { upstream, reply } = await throughNulDroppingReceiver(seq);
    expect(reply).toMatch(/^554 5\.6\.0 /);
    expect(upstream.mailFroms).toEqual([]);
  });
});

describe('dot lines and segmentation: what the upstream receives is what the client meant', () => {
  // mail-guard runs in this process: each piece below is written once the server has read the one before.
  let reads: ServerReads;
  beforeAll(() => {
    reads = watchServerReads();
  });
  afterAll(() => reads.stop());

  // Dot lines at the start (the first DATA line), in the middle and at the end.
  const MESSAGE = Buffer.from(
    crlf(
      '.Dot-First: a header line that starts with a dot',
      'From: app@example.co.jp',
      'To: a@example.co.jp',
      'Subject: dots',
      '',
      '.',
      '..',
      '...',
      '.leading dot',
      'middle',
      ' .',
      '.\t',
      'x.',
      '.',
      '',
    ),
    'latin1',
  );
  /** Dot-stuffed as RFC 5321 says: a dot at the start of each line gets another. */
  const STUFFED = Buffer.from(MESSAGE.toString('latin1').replace(/(^|\r\n)\./g, '$1..') + '.\r\n', 'latin1');

  it('one write, and one byte per read, give byte-identical content upstream', async () => {
    const upstream = await recording();
    const guard = await guardFor(upstream.port);

    const whole = await openData(guard.smtpPort);
    whole.writeRaw(STUFFED);
    expect(await whole.reply()).toMatch(/^250 /);
    await whole.quit();

    const bytewise = await openData(guard.smtpPort);
    socketOf(bytewise).setNoDelay(true);
    // Every byte but the last is read by the server on its own; the last one brings the reply.
    for (const byte of STUFFED.subarray(0, -1)) await reads.write(socketOf(bytewise), Buffer.from([byte]));
    bytewise.writeRaw(STUFFED.subarray(-1));
    expect(await bytewise.reply()).toMatch(/^250 /);
    await bytewise.quit();

    expect(upstream.messages).toHaveLength(2);
    expect(upstream.messages[0]!.raw.toString('latin1')).toBe(MESSAGE.toString('latin1'));
    expect(upstream.messages[1]!.raw.equals(upstream.messages[0]!.raw)).toBe(true);
  });

  it('a message whose only content line is a dot arrives as that line', async () => {
    const upstream = await recording();
    const guard = await guardFor(upstream.port);
    const client = await openData(guard.smtpPort);
    // Headers, then a body of one "." line; the terminator in a read of its own.
    await reads.write(socketOf(client), crlf('From: app@example.co.jp', 'To: a@example.co.jp', '', '..', ''));
    client.writeRaw('.\r\n');
    expect(await client.reply()).toMatch(/^250 /);
    await client.quit();
    expect(upstream.messages[0]!.raw.toString('latin1')).toBe(crlf('From: app@example.co.jp', 'To: a@example.co.jp', '', '.', ''));
  });
});

describe('garbage at every SMTP state never takes the process down', () => {
  const CLEAN = crlf('From: app@example.co.jp', 'To: a@example.co.jp', 'Subject: after garbage', '', 'still works', '');

  /** Deterministic junk: every byte value, NULs, bare CR/LF, lone dots, high bytes. */
  function junk(length: number, seed: number): Buffer {
    const out = Buffer.alloc(length);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
    return out;
  }

  async function stillServes(guard: RunningMailGuard, upstream: RecordingUpstream, expected: number): Promise<void> {
    const { client, greeting } = await TestSmtpClient.open(guard.smtpPort);
    expect(greeting).toMatch(/^220 /);
    await drop(client);
    expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@example.co.jp'], CLEAN)).final).toMatch(/^250 /);
    expect(upstream.messages).toHaveLength(expected);
  }

  /** QUIT: a reply or a hang-up, within the bound; the socket goes either way. */
  async function drop(client: TestSmtpClient): Promise<void> {
    await within(client.quit(), 5_000, 'an answer to QUIT after the garbage');
    socketOf(client).destroy();
  }

  /** Any reply or a closed connection is fine; hanging (no answer within the bound) or a crash is not. */
  async function settle(next: Promise<string>): Promise<string> {
    const line = await within(next, 5_000, 'a reply or a hang-up after the garbage');
    expect(line).toMatch(/^(\d{3}[ -]|\(connection closed\))/);
    return line;
  }

  it('before EHLO, after EHLO, after MAIL, after RCPT, inside DATA and as a 1 MB command line', async () => {
    const upstream = await recording();
    const guard = await guardFor(upstream.port, { maxMessageBytes: 1_048_576 });
    let delivered = 0;

    // Before EHLO: binary junk, a NUL line, a lone dot, a command with no verb.
    {
      const { client } = await TestSmtpClient.open(guard.smtpPort);
      client.writeRaw(Buffer.concat([junk(4096, 1), Buffer.from('\r\n\0\0\r\n.\r\n:\r\n\xff\xfe\r\n', 'latin1')]));
      await settle(client.reply());
      await drop(client);
      await stillServes(guard, upstream, ++delivered);
    }

    // After EHLO and after MAIL: malformed commands of every kind, then binary junk.
    for (const stage of ['ehlo', 'mail', 'rcpt'] as const) {
      const { client } = await TestSmtpClient.open(guard.smtpPort);
      await client.command('EHLO mailer.test');
      if (stage !== 'ehlo') await client.command('MAIL FROM:<app@example.co.jp>');
      if (stage === 'rcpt') await client.command('RCPT TO:<a@example.co.jp>');
      for (const line of [
        'MAIL FROM:<<<>>>',
        'RCPT TO:',
        'RCPT TO:<a@b@c>',
        'RCPT TO:<\0@x>',
        'BDAT 10 LAST',
        'AUTH PLAIN AAAA',
        'STARTTLS',
        'XCLIENT ADDR=1.2.3.4',
        '\u00ff\u00fe',
      ]) {
        await settle(client.command(line));
      }
      client.writeRaw(junk(8192, stage.length + 7));
      client.writeRaw('\r\n');
      await settle(client.reply());
      await drop(client);
      await stillServes(guard, upstream, ++delivered);
    }

    // Inside DATA: binary junk (NULs, bare CR/LF, dot lines) as the message.
    const printable = (b: Buffer) => Buffer.from(b.map((x) => (x === 0 || x === 0x2e ? 0x40 : x)));
    const junkMessages = [
      junk(16_384, 3),
      // Printable junk: reaches the header parser instead of stopping at the first NUL.
      printable(junk(16_384, 5)),
      Buffer.concat([Buffer.from('To: '), printable(junk(4096, 13)), Buffer.from('\r\n\r\n')]),
      // A readable header, then a junk body: relayed as it is.
      Buffer.concat([Buffer.from(crlf('From: app@example.co.jp', 'To: a@example.co.jp', '', '')), junk(16_384, 11)]),
    ];
    for (const message of junkMessages) {
      const client = await openData(guard.smtpPort);
      client.writeRaw(Buffer.concat([message, Buffer.from('\r\n.\r\n')]));
      const reply = await settle(client.reply());
      // Junk is no header block anyone can read: refused, or (by luck) relayed — never a 4xx/crash.
      expect(reply).toMatch(/^(250|5\d\d) /);
      if (reply.startsWith('250')) delivered++;
      await drop(client);
      await stillServes(guard, upstream, ++delivered);
    }

    // A 1 MB command line, before EHLO and after MAIL.
    for (const afterMail of [false, true]) {
      const { client } = await TestSmtpClient.open(guard.smtpPort);
      if (afterMail) {
        await client.command('EHLO mailer.test');
        await client.command('MAIL FROM:<app@example.co.jp>');
      }
      client.writeRaw('RCPT TO:<' + 'a'.repeat(1 << 20) + '@example.co.jp>\r\n');
      const reply = await settle(client.reply());
      expect(reply).not.toMatch(/^2/);
      await drop(client);
      await stillServes(guard, upstream, ++delivered);
    }
  });
});
