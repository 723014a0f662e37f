// The overview's paused senders (policy.breaker) over real HTTP: a breaker
// opened by real mail over SMTP is listed with its sender, since when and
// after how many violations, in both languages and in the live fragment; its
// Reset form needs the session's CSRF token, resets it (audited under the
// signed-in name) and the sender's next clean message leaves again.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { breakerId } from '../../src/store/breaker-common.js';
import { openFileStore } from '../../src/store/file-store.js';
import { FORM, page as pageOf, signIn as signInAs } from '../helpers/console-session.js';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
const TOKEN = 'carol-console-breaker-token';
const MEMBERS = ['a@ext1.example', 'b@ext2.example', 'c@ext3.example'];
const SENDER = 'news@example.co.jp';
const message = (to: readonly string[], subject: string) => crlf(`From: ${SENDER}`, `To: ${to.join(', ')}`, `Subject: ${subject}`, '', 'hello', '');

let guard: RunningMailGuard;
let upstream: RecordingUpstream;
let base: string;

const signIn = (lang = 'en') => signInAs(base, TOKEN, lang);
const page = (cookie: string, path: string) => pageOf(base, cookie, path);

const section = (html: string) => /<section class="breakers" id="breakers">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? null;
const text = (html: string) =>
  html
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  guard = await startMailGuard({
    upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false },
    internalDomains: ['example.co.jp'],
    policy: { action: 'reject', breaker: { violations: 2, windowSeconds: 300, action: 'quarantine' } },
    admin: { tokens: [{ name: 'carol', tokenSha256: sha256(TOKEN), role: 'approver' }] },
  });
  base = `http://127.0.0.1:${guard.adminPort}`;
});
afterAll(async () => {
  await guard?.stop();
  await upstream?.close();
});

describe('console: paused senders on the overview', () => {
  it('lists an open breaker, and its Reset (with the CSRF token) closes it', async () => {
    const cookie = await signIn();
    expect(section(await page(cookie, '/ui/'))).toBeNull();

    for (const n of [1, 2]) expect((await sendOnce(guard.smtpPort, SENDER, MEMBERS, message(MEMBERS, `Campaign ${n}`))).final).toMatch(/^550 /);
    const id = breakerId(SENDER);
    for (const path of ['/ui/', '/ui/overview/live']) {
      const breakers = section(await page(cookie, path));
      expect(breakers, path).not.toBeNull();
      const row = /<tr data-breaker="([0-9a-f]{24})">([\s\S]*?)<\/tr>/.exec(breakers!);
      expect(row?.[1], path).toBe(id);
      expect(text(row![2]!), path).toMatch(/^news@example\.co\.jp .*\d{4}.* 2 within 300 s held Reason \(optional\) Reset$/);
      expect(row![2], path).toContain(`action="/ui/breakers/${id}/reset"`);
      expect(row![2], path).toContain('href="/ui/messages?sender=news%40example.co.jp"');
    }
    const ja = section(await page(await signIn('ja'), '/ui/'));
    expect(text(ja!)).toContain('一時停止中の送信者');
    expect(text(ja!)).toMatch(/2 300 秒以内 保留 理由\(任意\) 解除/);

    // Paused: a clean message from that sender is held, not sent.
    expect((await sendOnce(guard.smtpPort, SENDER, [MEMBERS[0]!], message([MEMBERS[0]!], 'Personal'))).final).toMatch(/held for review/);
    expect(upstream.messages).toHaveLength(0);

    // Without the session's CSRF token the form is refused and nothing changes.
    const refused = await fetch(`${base}/ui/breakers/${id}/reset`, { method: 'POST', headers: { ...FORM, cookie }, body: 'reason=x', redirect: 'manual' });
    expect(refused.status).toBe(403);
    expect(section(await page(cookie, '/ui/'))).not.toBeNull();

    const csrf = /name="csrf" value="([^"]+)"/.exec(section(await page(cookie, '/ui/'))!)![1]!;
    const body = `csrf=${encodeURIComponent(csrf)}&reason=${encodeURIComponent('list fixed by marketing')}`;
    const reset = await fetch(`${base}/ui/breakers/${id}/reset`, { method: 'POST', headers: { ...FORM, cookie }, body, redirect: 'manual' });
    expect(reset.status).toBe(303);
    expect(reset.headers.get('location')).toBe('/ui/');
    expect(section(await page(cookie, '/ui/'))).toBeNull();

    // Resetting again: the error page with the API's 404.
    const again = await fetch(`${base}/ui/breakers/${id}/reset`, { method: 'POST', headers: { ...FORM, cookie }, body, redirect: 'manual' });
    expect(again.status).toBe(404);
    expect(await again.text()).toContain('no open breaker');

    expect((await sendOnce(guard.smtpPort, SENDER, [MEMBERS[1]!], message([MEMBERS[1]!], 'Personal 2'))).final).toMatch(/^250 /);
    expect(upstream.messages.map((m) => m.rcptTo)).toEqual([[MEMBERS[1]]]);

    const store = await openFileStore(guard.storePath);
    try {
      const entries = (await store.audit.read({ limit: 100 })).filter((e) => e.action === 'breaker-reset');
      expect(entries).toEqual([expect.objectContaining({ actor: 'carol', target: id, note: 'list fixed by marketing' })]);
    } finally {
      await store.close();
    }
  });
});
