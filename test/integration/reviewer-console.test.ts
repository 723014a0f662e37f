// The reviewer console over real HTTP(S) against a running mail-guard: the
// headers every response carries, sign-in and its lockout, sessions that end
// when their token goes, CSRF and cross-site refusals, the preview frame's own
// CSP, and the admin listener over TLS. The browser tests (test/browser) show
// the same console in Chromium.
import { createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CONSOLE_CSP } from '../../src/admin/ui/ui-plugin.js';
import { FRAME_CSP } from '../../src/admin/ui/frame-document.js';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';
import { TEST_TLS } from '../helpers/test-tls.js';

const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
const ALICE = 'alice-console-token-0123456789';
const tokens = [{ name: 'alice', tokenSha256: sha256(ALICE), role: 'reviewer' }];
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function guardWith(admin: Record<string, unknown> = {}, storePath?: string): Promise<{ guard: RunningMailGuard; base: string }> {
  const upstream = await startRecordingUpstream();
  cleanups.push(() => upstream.close());
  const guard = await startMailGuard(
    { upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false }, internalDomains: ['example.co.jp'], admin: { tokens, ...admin } },
    storePath,
  );
  cleanups.push(() => guard.stop());
  return { guard, base: `http://127.0.0.1:${guard.adminPort}` };
}

async function signIn(base: string, token = ALICE): Promise<{ cookie: string; response: Response }> {
  const response = await fetch(`${base}/ui/login`, { method: 'POST', headers: FORM, body: `token=${encodeURIComponent(token)}`, redirect: 'manual' });
  return { cookie: (response.headers.get('set-cookie') ?? '').split(';')[0]!, response };
}

async function csrfOf(base: string, cookie: string, path: string): Promise<string> {
  const page = await (await fetch(`${base}${path}`, { headers: { cookie } })).text();
  return /name="csrf" value="([^"]+)"/.exec(page)![1]!;
}

async function hold(guard: RunningMailGuard): Promise<string> {
  const raw = crlf('From: news@example.co.jp', 'To: a@ext1.com, b@ext2.com', 'Subject: Monthly news', '', 'hello', '');
  const reply = (await sendOnce(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], raw)).final;
  return /held for review ([0-9A-Z]{26})$/.exec(reply)![1]!;
}

describe('reviewer console over HTTP', () => {
  it('redirects / to /ui/ and a signed-out browser to the sign-in form, with the security headers on every answer', async () => {
    const { base } = await guardWith();
    const root = await fetch(`${base}/`, { redirect: 'manual' });
    expect(root.status).toBe(303);
    expect(root.headers.get('location')).toBe('/ui/');
    for (const path of ['/ui/', '/ui/login', '/ui/assets/console.js', '/ui/no-such-page']) {
      const r = await fetch(`${base}${path}`, { redirect: 'manual' });
      expect(r.headers.get('content-security-policy'), path).toBe(CONSOLE_CSP);
      expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(r.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(r.headers.get('cache-control'), path).toBe('no-store');
    }
    expect(CONSOLE_CSP).not.toMatch(/unsafe-(inline|eval)/);
    expect((await fetch(`${base}/ui/`, { redirect: 'manual' })).headers.get('location')).toBe('/ui/login');
    const js = await fetch(`${base}/ui/assets/console.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toContain('data-confirm');
  });

  it('signs in with a session cookie that is HttpOnly, SameSite=Strict, scoped to /ui and not Secure over plain HTTP', async () => {
    const { base } = await guardWith();
    const { cookie, response } = await signIn(base);
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/ui/');
    const setCookie = response.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^mg_session=[^;]+; Max-Age=28800; Path=\/ui; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toContain(ALICE);
    const overview = await fetch(`${base}/ui/`, { headers: { cookie } });
    expect(overview.status).toBe(200);
    const text = await overview.text();
    expect(text).toContain('Signed in as alice (reviewer)');
    // With an upstream the store keeps only held mail: the verdict counts say they are not everything.
    expect(text).toContain('Complete only in rehearsal mode');
  });

  it('answers a wrong token with 401 and locks the address out after five failures, even for the right token', async () => {
    const { base } = await guardWith();
    for (let i = 0; i < 5; i++) {
      const { response } = await signIn(base, `wrong-${i}`);
      expect(response.status).toBe(401);
      expect(await response.text()).toContain('That token is not valid.');
    }
    const { response } = await signIn(base, ALICE);
    expect(response.status).toBe(429);
    expect(response.headers.get('set-cookie')).toBeNull();
  });

  it('ends a session whose token is no longer configured, and refuses a tampered cookie', async () => {
    const secret = 'a-session-secret-of-at-least-32-characters';
    const first = await guardWith({ sessionSecret: secret });
    const { cookie } = await signIn(first.base);
    expect((await fetch(`${first.base}/ui/`, { headers: { cookie }, redirect: 'manual' })).status).toBe(200);
    // A changed signature, and another spelling of the same one (base64url's last character
    // carries spare bits: A and B, or Q and R, may decode alike): both refused.
    const tampered = cookie.replace(/\.(.)/, (_m, c: string) => `.${c === 'A' ? 'B' : 'A'}`);
    const respelled = cookie.replace(/.$/, (c) => String.fromCharCode(c.charCodeAt(0) ^ 1));
    for (const bad of [tampered, respelled]) {
      expect((await fetch(`${first.base}/ui/`, { headers: { cookie: bad }, redirect: 'manual' })).status, bad).toBe(303);
    }

    // The same secret, so the signature still holds; only the token list changed.
    const rotated = await guardWith({ sessionSecret: secret, tokens: [{ name: 'alice', tokenSha256: sha256('a-new-token-0123456789'), role: 'reviewer' }] });
    const stale = await fetch(`${rotated.base}/ui/`, { headers: { cookie }, redirect: 'manual' });
    expect(stale.status).toBe(303);
    expect(stale.headers.get('location')).toBe('/ui/login');
    const same = await guardWith({ sessionSecret: secret });
    expect((await fetch(`${same.base}/ui/`, { headers: { cookie }, redirect: 'manual' })).status).toBe(200);
  });

  it('refuses a decision without the session CSRF token, from another origin, or as JSON, and takes it with all in order', async () => {
    const { guard, base } = await guardWith();
    const id = await hold(guard);
    const { cookie } = await signIn(base);
    const csrf = await csrfOf(base, cookie, `/ui/messages/${id}`);
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${base}/ui/messages/${id}/approve`, { method: 'POST', headers: { ...FORM, cookie, ...headers }, body, redirect: 'manual' });

    expect((await post('reason=x')).status).toBe(403);
    expect((await post('reason=x&csrf=forged')).status).toBe(403);
    const other = await signIn(base);
    expect((await post(`reason=x&csrf=${encodeURIComponent(await csrfOf(base, other.cookie, '/ui/'))}`)).status).toBe(403);
    expect((await post(`reason=x&csrf=${csrf}`, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await post(`reason=x&csrf=${csrf}`, { origin: 'null', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post(`reason=x&csrf=${csrf}`, { 'sec-fetch-site': 'same-site' })).status).toBe(403);
    const json = await fetch(`${base}/ui/messages/${id}/approve`, { method: 'POST', headers: { 'content-type': 'application/json', cookie }, body: '{}' });
    expect(json.status).toBe(415);
    const signedOut = await fetch(`${base}/ui/messages/${id}/approve`, { method: 'POST', headers: FORM, body: `csrf=${csrf}` });
    expect(signedOut.status).toBe(401);
    expect(await (await fetch(`${base}/ui/messages/${id}`, { headers: { cookie } })).text()).not.toContain('>approve<');

    const ok = await post(`reason=checked&csrf=${csrf}`, { origin: base, 'sec-fetch-site': 'same-origin' });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe(`/ui/messages/${id}?done=approve&ok=1&n=1`);
    const page = await (await fetch(`${base}/ui/messages/${id}`, { headers: { cookie } })).text();
    expect(page).toMatch(/<td class="actor">alice<\/td>\s*<td class="action">approve<\/td>\s*<td>\s*checked/);
  });

  it('masks the addresses of an HTML body in the preview frame: a pasted member list is not shown whole', async () => {
    const { guard, base } = await guardWith();
    const raw = crlf(
      'From: news@example.co.jp',
      'To: a@ext1.com, b@ext2.com',
      'Subject: Members',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<table><tr><td>taro@member-one.example</td><td><a href="mailto:hanako@member-two.example">Hanako</a></td><td>jiro\uff20member-three.example</td></tr></table>',
      '',
    );
    const reply = (await sendOnce(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], raw)).final;
    const id = /held for review ([0-9A-Z]{26})$/.exec(reply)![1]!;
    const alice = await signIn(base);
    const frame = await (await fetch(`${base}/ui/messages/${id}/frame`, { headers: { cookie: alice.cookie } })).text();
    expect(frame).toContain('<td>t***@m***.example</td>');
    // Links do not navigate in the frame: the sanitiser keeps the target as a title, masked too.
    expect(frame).toContain('title="mailto:h***@m***.example"');
    expect(frame).toContain('j***@m***.example');
    expect(frame).not.toMatch(/taro|hanako@|jiro/);
  });

  it('serves the preview frame under its own CSP, and lets only approvers reveal addresses', async () => {
    const { guard, base } = await guardWith({ tokens: [...tokens, { name: 'bob', tokenSha256: sha256('bob-token-0123456789'), role: 'approver' }] });
    const id = await hold(guard);
    const alice = await signIn(base);
    const frame = await fetch(`${base}/ui/messages/${id}/frame`, { headers: { cookie: alice.cookie } });
    expect(frame.status).toBe(200);
    expect(frame.headers.get('content-security-policy')).toBe(FRAME_CSP);
    expect(FRAME_CSP).toContain('sandbox');
    expect(FRAME_CSP).toContain("frame-ancestors 'self'");
    const reveal = (cookie: string, csrf: string) =>
      fetch(`${base}/ui/messages/${id}/reveal`, { method: 'POST', headers: { ...FORM, cookie }, body: `csrf=${encodeURIComponent(csrf)}` });
    const refused = await reveal(alice.cookie, await csrfOf(base, alice.cookie, `/ui/messages/${id}`));
    expect(refused.status).toBe(403);
    const bob = await signIn(base, 'bob-token-0123456789');
    const shown = await reveal(bob.cookie, await csrfOf(base, bob.cookie, `/ui/messages/${id}`));
    expect(shown.status).toBe(200);
    expect(await shown.text()).toContain('a@ext1.com');
    expect(guard.logs.filter((l) => l['event'] === 'audit').map((l) => `${String(l['actor'])} ${String(l['action'])}`)).toEqual([
      'alice sign-in',
      'bob sign-in',
      'bob reveal',
    ]);
    // And in the store's hash-chained audit log, as the API serves it.
    const audit = (await (await fetch(`${base}/api/audit`, { headers: { authorization: `Bearer ${ALICE}` } })).json()) as {
      entries: { actor: string; action: string; target: string | null }[];
    };
    expect(audit.entries.map((e) => `${e.actor} ${e.action} ${e.target ?? '-'}`)).toEqual(['alice sign-in -', 'bob sign-in -', `bob reveal ${id}`]);
  });

  it('speaks HTTPS with admin.tls, and the session cookie is then Secure', async () => {
    const dir = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
    const { guard } = await guardWith({ tls: { key: `${dir}localhost-key.pem`, cert: `${dir}localhost-cert.pem` } });
    const answer = await new Promise<{ status: number; cookie: string }>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: guard.adminPort, path: '/ui/login', method: 'POST', ca: TEST_TLS.ca, servername: 'localhost', headers: FORM },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, cookie: String(res.headers['set-cookie']?.[0] ?? '') });
        },
      );
      req.on('error', reject);
      req.end(`token=${ALICE}`);
    });
    expect(answer.status).toBe(303);
    expect(answer.cookie).toMatch(/; Secure(;|$)/);
    await expect(fetch(`http://127.0.0.1:${guard.adminPort}/healthz`)).rejects.toThrow();
  });
});
