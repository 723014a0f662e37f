// Issue 9 item 4: no 250 for refused mail, and a sender who learns about the
// copies refused after the 250. Through a running mail-guard to a recording
// upstream that refuses chosen recipients at RCPT.
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { openFileStore } from '../../src/store/file-store.js';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce, TestSmtpClient } from '../helpers/smtp-client.js';
import { startMailGuard } from '../helpers/start-mail-guard.js';

const MEMBERS = ['a@ext1.com', 'b@ext2.com', 'c@ext3.com'];
const newsletter = crlf('From: news@example.co.jp', `To: ${MEMBERS.join(', ')}`, 'Subject: Monthly news', 'Message-ID: <m1@example.co.jp>', '', 'hello', '');

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(refuse: (address: string) => boolean, notify: Record<string, unknown> = {}) {
  const upstream: RecordingUpstream = await startRecordingUpstream({
    rcptReply: (a) => (refuse(a) ? { code: 550, message: '5.1.1 <' + a + '>: no such user here' } : undefined),
  });
  cleanups.push(() => upstream.close());
  const guard = await startMailGuard({
    upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 2 },
    internalDomains: ['example.co.jp'],
    policy: { action: 'split' },
    notify,
  });
  cleanups.push(() => guard.stop());
  return { upstream, guard };
}

/** Delivery reports among what the upstream received (the null sender alone does not tell them from copies of a bounce). */
const reportsIn = (upstream: RecordingUpstream) => upstream.messages.filter((m) => m.raw.toString('utf8').includes('report-type=delivery-status'));

describe('copies refused after the 250', () => {
  it('the sender gets one RFC 3464 report through the upstream, the refused copy stays as failed', async () => {
    const { upstream, guard } = await start((a) => a === 'b@ext2.com');
    const result = await sendOnce(guard.smtpPort, 'news@example.co.jp', MEMBERS, newsletter);
    expect(result.final).toMatch(
      /^250 2\.0\.0 2 of 3 copies accepted upstream, one per recipient; 1 refused permanently and kept for review \[([0-9A-Z]{26})\]$/,
    );
    const id = /\[([0-9A-Z]{26})\]$/.exec(result.final)![1]!;

    const reports = reportsIn(upstream);
    expect(reports).toHaveLength(1);
    const report = reports[0]!;
    expect(report.mailFrom).toBe('');
    expect(report.rcptTo).toEqual(['news@example.co.jp']);
    const raw = report.raw.toString('utf8');
    expect(raw).toMatch(/^Content-Type: multipart\/report; report-type=delivery-status; boundary=/m);
    expect(raw).toMatch(/^Auto-Submitted: auto-replied$/m);
    const status = /Content-Type: message\/delivery-status\r\n\r\n([\s\S]*?)\r\n--/.exec(raw)![1]!;
    expect(status).toContain(`X-Mail-Guard-Id: ${id}`);
    expect(status).toContain('Final-Recipient: rfc822; b@ext2.com\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; 127.0.0.1\r\n');
    expect(status).toContain('Diagnostic-Code: smtp; 550 5.1.1 <b@ext2.com>: no such user here');
    expect(status).not.toContain('a@ext1.com');
    const parsed = await simpleParser(report.raw);
    expect(parsed.subject).toBe('Undelivered Mail Returned to Sender');
    expect(parsed.text).toContain(`Your message ${id} was accepted, but the relay refused it`);
    expect(parsed.text).toContain('Recipient: b@ext2.com');
    // The original's header comes back, not its body.
    expect(raw).toContain('Content-Type: text/rfc822-headers\r\n\r\nFrom: news@example.co.jp\r\n');
    expect(raw).not.toContain('\r\nhello\r\n');

    const store = await openFileStore(guard.storePath);
    cleanups.push(() => store.close());
    expect((await store.list({ status: 'failed', limit: 10 })).records.map((r) => r.envelope.rcptTo)).toEqual([['b@ext2.com']]);
    expect(guard.logs.find((l) => l.msg === 'message handled')).toMatchObject({ report: 'sent' });
  });

  it('in Japanese with notify.language: ja', async () => {
    const { upstream, guard } = await start((a) => a === 'c@ext3.com', { language: 'ja' });
    await sendOnce(guard.smtpPort, 'news@example.co.jp', MEMBERS, newsletter);
    const parsed = await simpleParser(reportsIn(upstream)[0]!.raw);
    expect(parsed.subject).toBe('配信できなかったメールのお知らせ');
    expect(parsed.text).toContain('宛先: c@ext3.com');
    expect(parsed.text).toContain('中継サーバーの応答: 550 <c@ext3.com>: no such user here');
  });

  it('honours NOTIFY: none for NEVER or a NOTIFY without FAILURE; ORCPT and ENVID come back in the report', async () => {
    const { upstream, guard } = await start((a) => a === 'b@ext2.com' || a === 'c@ext3.com');
    const { client } = await TestSmtpClient.open(guard.smtpPort);
    await client.command('EHLO mailer.test');
    const result = await client.send('news@example.co.jp', MEMBERS, newsletter, {
      mail: 'ENVID=nov-2026',
      rcpt: { 'b@ext2.com': 'NOTIFY=FAILURE ORCPT=rfc822;b@ext2.com', 'c@ext3.com': 'NOTIFY=NEVER' },
    });
    await client.quit();
    expect(result.final).toMatch(/^250 2\.0\.0 1 of 3 copies accepted upstream/);
    const reports = reportsIn(upstream);
    expect(reports).toHaveLength(1);
    const status = /Content-Type: message\/delivery-status\r\n\r\n([\s\S]*?)\r\n--/.exec(reports[0]!.raw.toString('utf8'))![1]!;
    expect(status).toMatch(/^Original-Envelope-Id: nov-2026\r\n/);
    expect(status).toContain('Original-Recipient: rfc822;b@ext2.com\r\nFinal-Recipient: rfc822; b@ext2.com');
    expect(status).not.toContain('c@ext3.com');

    const never = await TestSmtpClient.open(guard.smtpPort);
    await never.client.command('EHLO mailer.test');
    await never.client.send('news@example.co.jp', MEMBERS, newsletter, { rcpt: { 'b@ext2.com': 'NOTIFY=NEVER', 'c@ext3.com': 'NOTIFY=SUCCESS,DELAY' } });
    await never.client.quit();
    expect(reportsIn(upstream)).toHaveLength(1);
  });

  it('no report for the null sender: a report about a report would loop', async () => {
    const { upstream, guard } = await start((a) => a === 'b@ext2.com');
    const result = await sendOnce(guard.smtpPort, '', MEMBERS, newsletter);
    expect(result.final).toMatch(/^250 2\.0\.0 2 of 3 copies accepted upstream/);
    expect(upstream.messages).toHaveLength(2);
    expect(reportsIn(upstream)).toEqual([]);
  });
});

describe('the log line says what the upstream said, with addresses masked', () => {
  it("each refused copy and each accepted copy's queue id; no address in the line", async () => {
    const { guard } = await start((a) => a === 'b@ext2.com');
    await sendOnce(guard.smtpPort, 'news@example.co.jp', MEMBERS, newsletter);
    const line = guard.logs.find((l) => l.msg === 'message handled')!;
    expect(line['refused']).toEqual([
      { recipient: 'b***@e***.com', code: 550, response: expect.stringMatching(/^550 5\.1\.1 <b\*\*\*@e\*\*\*\.com>: no such user here$/) },
    ]);
    expect(line['copies']).toEqual(
      expect.arrayContaining([
        { recipient: 'a***@e***.com', reply: expect.stringMatching(/queued as R\d+$/) },
        { recipient: 'c***@e***.com', reply: expect.stringMatching(/queued as R\d+$/) },
      ]),
    );
    expect(JSON.stringify(line)).not.toMatch(/[a-z]@ext\d\.com/);
  });

  it('a relay that refuses connections: stage, kind and the reason (whole relay); each deferred copy (split)', async () => {
    const closed = await startRecordingUpstream();
    const port = closed.port;
    await closed.close();
    const base = { upstream: { host: '127.0.0.1', port, requireTLS: false }, internalDomains: ['example.co.jp'] };
    const relaying = await startMailGuard({ ...base, policy: { action: 'reject' } });
    cleanups.push(() => relaying.stop());
    const clean = crlf('From: news@example.co.jp', 'To: a@ext1.com', 'Subject: s', '', 'x', '');
    expect((await sendOnce(relaying.smtpPort, 'news@example.co.jp', ['a@ext1.com'], clean)).final).toMatch(/^451 4\.4\.1 /);
    expect(relaying.logs.find((l) => l.msg === 'message deferred')).toMatchObject({
      upstream: { stage: 'connect', kind: 'connect', code: null, enhanced: null, text: expect.stringMatching(/ECONNREFUSED/) },
    });

    const splitting = await startMailGuard({ ...base, policy: { action: 'split' } });
    cleanups.push(() => splitting.stop());
    expect((await sendOnce(splitting.smtpPort, 'news@example.co.jp', MEMBERS, newsletter)).final).toMatch(/^451 4\.4\.0 0 of 3 copies/);
    const line = splitting.logs.find((l) => l.msg === 'message deferred')!;
    expect((line['deferred'] as Array<{ recipient: string; response: string }>).map((d) => d.recipient).sort()).toEqual([
      'a***@e***.com',
      'b***@e***.com',
      'c***@e***.com',
    ]);
    expect(JSON.stringify(line)).not.toMatch(/[a-z]@ext\d\.com/);
  });
});

describe('every copy refused', () => {
  it('the mailer gets the upstream 5xx, not 250; nothing is kept, no report is sent', async () => {
    const { upstream, guard } = await start(() => true);
    const result = await sendOnce(guard.smtpPort, 'news@example.co.jp', MEMBERS, newsletter);
    expect(result.final).toMatch(/^550 5\.1\.1 upstream: <[abc]@ext[123]\.com>: no such user here \[[0-9A-Z]{26}\]$/);
    expect(upstream.messages).toEqual([]);
    const store = await openFileStore(guard.storePath);
    cleanups.push(() => store.close());
    expect((await store.list({ limit: 10 })).records).toEqual([]);
    expect(guard.logs.find((l) => l.msg === 'message handled')).toMatchObject({ action: 'reject', reply: '550 5.1.1' });
  });
});
