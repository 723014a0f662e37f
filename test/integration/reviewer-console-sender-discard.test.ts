// "Discard everything waiting from this sender" in the console, over real HTTP:
// delayed mail from two senders (a delay window over SMTP); the messages page
// filtered by one sender offers the form; without the session's CSRF token it
// is refused; with it every delayed message of that sender is discarded
// (audited under the signed-in name), the other sender's mail is untouched and
// still leaves when its time comes.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileStore } from '../../src/store/file-store.js';
import { FORM, page as pageOf, signIn as signInAs } from '../helpers/console-session.js';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
const TOKEN = 'dora-console-sender-discard-token';
const WRONG = 'news@example.co.jp';
const FINE = 'billing@example.co.jp';
const message = (from: string, to: string, subject: string) => crlf(`From: ${from}`, `To: ${to}`, `Subject: ${subject}`, '', 'hello', '');

let guard: RunningMailGuard;
let upstream: RecordingUpstream;
let base: string;

const signIn = (lang = 'en') => signInAs(base, TOKEN, lang);
const page = (cookie: string, path: string) => pageOf(base, cookie, path);

const form = (html: string) => /<form[^>]*action="\/ui\/senders\/discard"[\s\S]*?<\/form>/.exec(html)?.[0] ?? null;

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  guard = await startMailGuard({
    upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false },
    internalDomains: ['example.co.jp'],
    // Long enough that nothing leaves during the test unless a rule says otherwise.
    policy: { action: 'pass', delaySeconds: 3600, rules: [{ name: 'billing-now', from: FINE, delaySeconds: 1 }] },
    admin: { tokens: [{ name: 'dora', tokenSha256: sha256(TOKEN), role: 'reviewer' }] },
  });
  base = `http://127.0.0.1:${guard.adminPort}`;
});
afterAll(async () => {
  await guard?.stop();
  await upstream?.close();
});

describe('console: discard everything waiting from one sender', () => {
  it('is offered on the messages page filtered by sender, needs the CSRF token, and stops only that sender', async () => {
    const ids: string[] = [];
    for (const subject of ['November newsletter', 'November newsletter (resend)', 'Other list']) {
      const { final } = await sendOnce(guard.smtpPort, WRONG, ['m1@ext1.example'], message(WRONG, 'm1@ext1.example', subject));
      expect(final).toMatch(/^250 2\.0\.0 queued, leaves at /);
      ids.push(final.split(' ').at(-1)!);
    }
    const cookie = await signIn();
    expect(form(await page(cookie, '/ui/messages'))).toBeNull();
    const filtered = await page(cookie, `/ui/messages?sender=${encodeURIComponent(WRONG)}`);
    const shown = form(filtered);
    expect(shown).not.toBeNull();
    expect(shown).toContain(`name="sender" value="${WRONG}"`);
    expect(shown).toContain('Discard everything waiting from this sender');
    expect(form(await page(await signIn('ja'), `/ui/messages?sender=${encodeURIComponent(WRONG)}`))).toContain('すべて破棄');

    const body = (csrf: string | null) =>
      `${csrf === null ? '' : `csrf=${encodeURIComponent(csrf)}&`}sender=${encodeURIComponent(WRONG)}&reason=${encodeURIComponent('wrong list')}`;
    const refused = await fetch(`${base}/ui/senders/discard`, { method: 'POST', headers: { ...FORM, cookie }, body: body(null), redirect: 'manual' });
    expect(refused.status).toBe(403);

    const csrf = /name="csrf" value="([^"]+)"/.exec(shown!)![1]!;
    const done = await fetch(`${base}/ui/senders/discard`, { method: 'POST', headers: { ...FORM, cookie }, body: body(csrf), redirect: 'manual' });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`/ui/messages?sender=${encodeURIComponent(WRONG)}&done=discard&ok=3&n=3`);
    expect(await page(cookie, done.headers.get('location')!)).toContain('Discarded 3 of 3 message(s).');

    // Nothing left from that sender: a second run is the error page with the API's 404.
    const again = await fetch(`${base}/ui/senders/discard`, { method: 'POST', headers: { ...FORM, cookie }, body: body(csrf), redirect: 'manual' });
    expect(again.status).toBe(404);

    // The other sender is untouched: its message still leaves at its time, and it is the only one that does.
    const { final } = await sendOnce(guard.smtpPort, FINE, ['payer@ext2.example'], message(FINE, 'payer@ext2.example', 'Invoice'));
    expect(final).toMatch(/^250 2\.0\.0 queued, leaves at /);
    await upstream.waitForMessages(1);
    expect(upstream.messages.map((m) => m.mailFrom)).toEqual([FINE]);

    const store = await openFileStore(guard.storePath);
    try {
      for (const id of ids) expect((await store.get(id))?.status, id).toBe('discarded');
      const entries = (await store.audit.read({ limit: 100 })).filter((e) => e.action === 'discard');
      expect(entries.map((e) => [e.actor, e.target, e.note])).toEqual(ids.map((id) => ['dora', id, 'wrong list']));
    } finally {
      await store.close();
    }
  });
});
