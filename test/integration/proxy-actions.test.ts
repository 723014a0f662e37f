import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce, TestSmtpClient } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

let upstream: RecordingUpstream | undefined;
let guard: RunningMailGuard | undefined;
afterEach(async () => {
  await guard?.stop();
  await upstream?.close();
  guard = undefined;
  upstream = undefined;
});

async function startRelaying(policy: Record<string, unknown> = {}, smtp: Record<string, unknown> = {}) {
  upstream = await startRecordingUpstream();
  guard = await startMailGuard({
    smtp,
    upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 4 },
    internalDomains: ['example.co.jp', '*.example.co.jp'],
    policy: { action: 'reject', ...policy },
  });
  return { upstream, guard };
}

describe('pass path', () => {
  it('relays the message byte for byte with the envelope unchanged', async () => {
    const { upstream, guard } = await startRelaying();
    const message = Buffer.from(
      crlf(
        'Received: from app1 by mailer; Sun, 29 Nov 2026 08:00:00 +0000',
        'From: =?UTF-8?B?5pel5pys?= <app@example.co.jp>',
        'To: Customer <customer@ext.com>',
        'Cc: support@example.co.jp, team@mail.example.co.jp',
        'Subject: order 42',
        'Message-ID: <42@example.co.jp>',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: 8bit',
        '',
        '.a line that starts with a dot',
        '..two dots',
        '.',
        'ünïcödé 8-bit body ' + 'x'.repeat(2000),
        '\ttab and trailing space ',
        '',
      ),
      'utf8',
    );
    const result = await sendOnce(guard.smtpPort, 'app@example.co.jp', ['customer@ext.com', 'support@example.co.jp'], message);
    expect(result.final).toMatch(/^250 2\.0\.0 upstream: Ok: queued as R1 \[[0-9A-Z]{26}\]$/);
    expect(upstream.messages).toHaveLength(1);
    const received = upstream.messages[0]!;
    expect(received.mailFrom).toBe('app@example.co.jp');
    expect(received.rcptTo).toEqual(['customer@ext.com', 'support@example.co.jp']);
    expect(received.raw.equals(message)).toBe(true);
  });

  it('normalises bare LF and bare CR to CRLF before analysis, and forwards exactly what it analysed', async () => {
    const { upstream, guard } = await startRelaying();
    // To a@… then, behind a bare CR, a Cc that a relay would see as its own header.
    const smuggled = Buffer.from('From: app@example.co.jp\nTo: a@example.co.jp\rCc: x@ext1.com, y@ext2.com\n\nbody\n', 'latin1');
    const result = await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@example.co.jp'], smuggled);
    expect(result.final).toMatch(/^550 5\.7\.1 Message exposes 2 external recipient addresses to each other in Cc/);
    expect(upstream.transactions).toBe(0);

    const plain = Buffer.from('From: app@example.co.jp\nTo: a@ext.com\n\nline one\rline two\nline three\r\n', 'latin1');
    await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@ext.com'], plain);
    expect(upstream.messages[0]!.raw.toString('latin1')).toBe('From: app@example.co.jp\r\nTo: a@ext.com\r\n\r\nline one\r\nline two\r\nline three\r\n');
  });
});

describe('large messages', () => {
  const bigBody = Array.from({ length: 20_000 }, (_, i) => (i % 50 === 0 ? `.dot line ${i}` : `line ${i} ${'z'.repeat(60)}`)).join('\r\n') + '\r\n';

  it('relays a 1.4 MB message byte for byte', async () => {
    const { upstream, guard } = await startRelaying();
    const message = Buffer.from(crlf('From: app@example.co.jp', 'To: a@ext1.com', 'Subject: big', '', bigBody));
    expect(message.length).toBeGreaterThan(1_000_000);
    expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@ext1.com'], message)).final).toMatch(/^250 /);
    expect(upstream.messages[0]!.raw.equals(message)).toBe(true);
  });

  it('splits a large message: each copy has its own To and the identical body', async () => {
    const { upstream, guard } = await startRelaying({ action: 'split' });
    const message = Buffer.from(crlf('From: news@example.co.jp', 'To: a@ext1.com, b@ext2.com', 'Subject: big', '', bigBody));
    expect((await sendOnce(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], message)).final).toMatch(/^250 2\.0\.0 2 of 2/);
    expect(upstream.messages).toHaveLength(2);
    for (const copy of upstream.messages) {
      expect(copy.raw.toString()).toBe(crlf('From: news@example.co.jp', `To: <${copy.rcptTo[0]}>`, 'Subject: big', '', bigBody));
    }
  });
});

describe('actions on a violation', () => {
  const exposing = crlf(
    'From: news@example.co.jp',
    'To: a@ext1.com, b@ext2.com',
    'Cc: Staff <staff@example.co.jp>, c@ext3.com',
    'Subject: hello',
    'Message-ID: <n1@example.co.jp>',
    '',
    'Body stays as it is.',
    '',
  );
  const body = 'Body stays as it is.\r\n';
  const envelope = ['a@ext1.com', 'b@ext2.com', 'c@ext3.com', 'staff@example.co.jp'];

  it('bcc: one relay, same envelope, To replaced by undisclosed-recipients, body untouched', async () => {
    const { upstream, guard } = await startRelaying({ action: 'bcc' });
    const result = await sendOnce(guard.smtpPort, 'news@example.co.jp', envelope, exposing);
    expect(result.final).toMatch(/^250 2\.0\.0 upstream: /);
    expect(upstream.transactions).toBe(1);
    const [copy] = upstream.messages;
    expect(copy!.rcptTo).toEqual(envelope);
    const text = copy!.raw.toString('utf8');
    expect(text).toBe(crlf('From: news@example.co.jp', 'To: undisclosed-recipients:;', 'Subject: hello', 'Message-ID: <n1@example.co.jp>', '', body));
  });

  it('split: one transaction per envelope recipient, each To that recipient, Cc gone, same Message-ID', async () => {
    const { upstream, guard } = await startRelaying({ action: 'split' });
    const result = await sendOnce(guard.smtpPort, 'news@example.co.jp', envelope, exposing);
    expect(result.final).toMatch(/^250 2\.0\.0 4 of 4 copies accepted upstream, one per recipient \[/);
    expect(upstream.transactions).toBe(4);
    const byRecipient = new Map(upstream.messages.map((m) => [m.rcptTo.join(','), m.raw.toString('utf8')]));
    expect([...byRecipient.keys()].sort()).toEqual([...envelope].sort());
    for (const rcpt of envelope) {
      expect(byRecipient.get(rcpt)).toBe(crlf('From: news@example.co.jp', `To: <${rcpt}>`, 'Subject: hello', 'Message-ID: <n1@example.co.jp>', '', body));
    }
  });

  it('monitor relays as is; reject answers 550 5.7.1 with the count and the headers', async () => {
    const { upstream, guard } = await startRelaying({ action: 'monitor' });
    expect((await sendOnce(guard.smtpPort, 'news@example.co.jp', envelope, exposing)).final).toMatch(/^250 /);
    expect(upstream.messages[0]!.raw.toString('utf8')).toBe(exposing);
    await guard.stop();
    await upstream.close();

    const second = await startRelaying({ action: 'reject' });
    const result = await sendOnce(second.guard.smtpPort, 'news@example.co.jp', envelope, exposing);
    expect(result.final).toMatch(
      /^550 5\.7\.1 Message exposes 3 external recipient addresses to each other in To, Cc; send with Bcc or one message per recipient \[[0-9A-Z]{26}\]$/,
    );
    expect(second.upstream.transactions).toBe(0);
  });

  it('a rule for one sender overrides the default action', async () => {
    const { upstream, guard } = await startRelaying({ action: 'reject', rules: [{ name: 'newsletter', from: 'news@example.co.jp', action: 'split' }] });
    expect((await sendOnce(guard.smtpPort, 'news@example.co.jp', envelope, exposing)).final).toMatch(/^250 2\.0\.0 4 of 4 copies/);
    expect((await sendOnce(guard.smtpPort, 'crm@example.co.jp', envelope, exposing)).final).toMatch(/^550 5\.7\.1 /);
    expect(upstream.transactions).toBe(4);
  });
});

describe('ingress bounds', () => {
  it('refuses recipients past maxRecipients with 452 4.5.3 and still delivers the rest', async () => {
    const { upstream, guard } = await startRelaying({}, { maxRecipients: 2 });
    const result = await sendOnce(
      guard.smtpPort,
      'app@example.co.jp',
      ['a@example.co.jp', 'b@example.co.jp', 'c@example.co.jp'],
      crlf('From: app@example.co.jp', 'To: a@example.co.jp', '', 'x', ''),
    );
    expect(result.rcpt[0]).toMatch(/^250 /);
    expect(result.rcpt[1]).toMatch(/^250 /);
    expect(result.rcpt[2]).toMatch(/^452 4\.5\.3 /);
    expect(result.final).toMatch(/^250 /);
    expect(upstream.messages[0]!.rcptTo).toEqual(['a@example.co.jp', 'b@example.co.jp']);
  });

  it('accepts a message of exactly maxMessageBytes and refuses one byte more with 552 5.3.4, relaying nothing', async () => {
    const head = crlf('From: app@example.co.jp', 'To: a@example.co.jp', '', '');
    const limit = 4096;
    const { upstream, guard } = await startRelaying({}, { maxMessageBytes: limit });
    const exact = head + 'y'.repeat(limit - head.length - 2) + '\r\n';
    expect(Buffer.byteLength(exact)).toBe(limit);
    expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@example.co.jp'], exact)).final).toMatch(/^250 /);
    const over = head + 'y'.repeat(limit - head.length - 1) + '\r\n';
    expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@example.co.jp'], over)).final).toMatch(/^552 5\.3\.4 /);
    expect(upstream.transactions).toBe(1);
  });

  it('refuses a malformed header block with 554 5.6.0', async () => {
    const { upstream, guard } = await startRelaying();
    const result = await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@ext.com'], crlf('From: app@example.co.jp', 'To a@ext.com, b@ext2.com', '', 'x', ''));
    expect(result.final).toMatch(/^554 5\.6\.0 /);
    expect(upstream.transactions).toBe(0);
  });

  it('refuses clients outside smtp.allowFrom with 554 5.7.1 at connect', async () => {
    const { guard } = await startRelaying({}, { allowFrom: ['192.0.2.0/24'] });
    const { client, greeting } = await TestSmtpClient.open(guard.smtpPort);
    expect(greeting).toMatch(/^554 5\.7\.1 /);
    await client.quit();
  });

  it('ends a transaction that outlives smtp.transactionTimeoutSeconds with 421 4.4.2, relaying nothing', async () => {
    const { upstream, guard } = await startRelaying({}, { transactionTimeoutSeconds: 1 });
    const { client } = await TestSmtpClient.open(guard.smtpPort);
    await client.command('EHLO slow.test');
    expect(await client.command('MAIL FROM:<app@example.co.jp>')).toMatch(/^250 /);
    expect(await client.command('RCPT TO:<a@example.co.jp>')).toMatch(/^250 /);
    expect(await client.command('DATA')).toMatch(/^354 /);
    client.writeRaw('From: app@example.co.jp\r\nTo: a@example.co.jp\r\n\r\nand then nothing more');
    expect(await client.reply()).toMatch(/^421 4\.4\.2 Transaction took too long/);
    expect(await client.reply()).toBe('(connection closed)');
    await client.quit();
    expect(upstream.transactions).toBe(0);
  });

  it('analyses two transactions pipelined in one segment separately', async () => {
    const { upstream, guard } = await startRelaying();
    const { client } = await TestSmtpClient.open(guard.smtpPort);
    await client.command('EHLO mailer.test');
    const good = crlf('From: app@example.co.jp', 'To: a@ext.com', '', 'one', '');
    const bad = crlf('From: app@example.co.jp', 'To: a@ext.com, b@ext2.com', '', 'two', '');
    client.writeRaw('MAIL FROM:<app@example.co.jp>\r\nRCPT TO:<a@ext.com>\r\nDATA\r\n');
    expect([await client.reply(), await client.reply(), await client.reply()].map((r) => r.slice(0, 3))).toEqual(['250', '250', '354']);
    // The end of the first message and the whole envelope of the second in one write.
    client.writeRaw(good + '.\r\nMAIL FROM:<app@example.co.jp>\r\nRCPT TO:<a@ext.com>\r\nRCPT TO:<b@ext2.com>\r\nDATA\r\n');
    expect(await client.reply()).toMatch(/^250 2\.0\.0 upstream: /);
    expect([await client.reply(), await client.reply(), await client.reply(), await client.reply()].map((r) => r.slice(0, 3))).toEqual([
      '250',
      '250',
      '250',
      '354',
    ]);
    client.writeRaw(bad + '.\r\n');
    expect(await client.reply()).toMatch(/^550 5\.7\.1 /);
    await client.quit();
    expect(upstream.messages).toHaveLength(1);
    expect(upstream.messages[0]!.raw.toString()).toBe(good);
  });
});

describe('rehearsal mode (no upstream)', () => {
  it('accepts, keeps the message durably with its verdict, and sends nothing', async () => {
    guard = await startMailGuard({ internalDomains: ['example.co.jp'], policy: { action: 'reject' } });
    const message = crlf('From: news@example.co.jp', 'To: a@ext1.com, b@ext2.com', 'Subject: dry run', '', 'hi', '');
    const result = await sendOnce(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], message);
    const match = /^250 2\.0\.0 captured in rehearsal mode, nothing was sent ([0-9A-Z]{26})$/.exec(result.final);
    expect(match).not.toBeNull();
    const id = match![1]!;
    const dir = join(guard.storePath, 'records', id);
    expect((await readFile(join(dir, 'message.eml'))).toString('utf8')).toBe(message);
    const record = JSON.parse(await readFile(join(dir, 'record.json'), 'utf8'));
    expect(record).toMatchObject({ id, status: 'captured', subject: 'dry run', verdict: { action: 'reject', violation: true, rule: 'default' } });
    expect(record.analysis.exposedExternalCount).toBe(2);
    expect(JSON.stringify(record.analysis)).not.toContain('a@ext1.com');
    expect(await readdir(join(guard.storePath, 'tmp'))).toEqual([]);
  });
});

describe('rehearsal mode when the store cannot write', () => {
  it('answers 451 4.3.0, never 250', async () => {
    guard = await startMailGuard({ policy: { action: 'reject' } });
    // A file where the records directory should be: every write fails (chmod does not stop root).
    await rm(join(guard.storePath, 'records'), { recursive: true, force: true });
    await writeFile(join(guard.storePath, 'records'), 'not a directory');
    const result = await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@ext1.com'], crlf('From: app@example.co.jp', 'To: a@ext1.com', '', 'x', ''));
    expect(result.final).toMatch(/^451 4\.3\.0 Message could not be stored; try again later \[/);
    expect(guard.logs.find((l) => l['id'])).toMatchObject({ action: 'tempfail', reply: '451 4.3.0' });
  });
});

describe('logs', () => {
  it('one line per message, with the reply id, and no raw address when masking is on', async () => {
    const { guard } = await startRelaying({ action: 'reject' });
    const result = await sendOnce(
      guard.smtpPort,
      'news@example.co.jp',
      ['alice@ext1.com', 'bob@ext2.com'],
      crlf('From: news@example.co.jp', 'To: alice@ext1.com, bob@ext2.com', '', 'x', ''),
    );
    const id = /\[([0-9A-Z]{26})\]$/.exec(result.final)![1];
    const lines = guard.logs.filter((l) => 'id' in l);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ id, action: 'reject', rule: 'default', exposedExternal: 2, reply: '550 5.7.1' });
    const all = JSON.stringify(guard.logs);
    expect(all).not.toMatch(/alice@ext1\.com|bob@ext2\.com|news@example\.co\.jp/);
    expect(lines[0]!['mailFrom']).toBe('n***@e***.jp');
  });
});
