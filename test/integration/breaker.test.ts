// The breaker end to end (issue 12 point 2): the real app on loopback ports,
// mail over raw SMTP sockets, the recording upstream, the admin API and the
// built CLI. What left the machine is what the upstream recorded.

import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { breakerId } from '../../src/store/breaker-common.js';
import { openFileStore } from '../../src/store/file-store.js';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { sendOnce, TestSmtpClient } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const run = promisify(execFile);
const CLI = resolve('dist/cli/main.js');
const TOKEN = 'duty-officer-token';
const TOKENS = [{ name: 'duty', tokenSha256: createHash('sha256').update(TOKEN).digest('hex'), role: 'reviewer' }];

const redis = await startRedisServer();
afterAll(async () => {
  await redis?.stop();
});

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const MEMBERS = ['a.member@ext-one.example', 'b.member@ext-two.example', 'c.member@ext-three.example'];

/** Every member in To: a violation of maxVisibleExternal 1. */
function exposing(n: number): string {
  return crlf(`From: news@example.co.jp`, `To: ${MEMBERS.join(', ')}`, `Subject: Campaign ${n}`, `Message-ID: <c${n}@example.co.jp>`, '', 'hello', '');
}
/** One recipient, nobody exposed. */
function clean(to: string, n: number): string {
  return crlf(`From: news@example.co.jp`, `To: ${to}`, `Subject: Personal ${n}`, `Message-ID: <p${n}@example.co.jp>`, '', 'hello', '');
}

async function upstream(): Promise<RecordingUpstream> {
  const up = await startRecordingUpstream();
  cleanups.push(() => up.close());
  return up;
}

async function guard(up: RecordingUpstream, extra: Record<string, unknown>, storePath?: string): Promise<RunningMailGuard> {
  const mg = await startMailGuard(
    {
      upstream: { host: '127.0.0.1', port: up.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      admin: { tokens: TOKENS },
      ...extra,
    },
    storePath,
  );
  cleanups.push(() => mg.stop());
  return mg;
}

// The JSON answers these tests read; the assertions check their shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of several shapes
type Answer = any;

async function api(mg: RunningMailGuard, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Answer }> {
  const response = await fetch(`http://127.0.0.1:${mg.adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

async function metric(mg: RunningMailGuard, name: string): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${mg.adminPort}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith(name));
}

const breakerPolicy = (action: 'quarantine' | 'tempfail', violations = 3) => ({
  policy: { action: 'reject', breaker: { violations, windowSeconds: 600, action } },
});

describe('breaker (file store)', () => {
  it('K violations open it; the next clean message from that sender is held; others pass; an API reset closes it', async () => {
    const up = await upstream();
    const mg = await guard(up, breakerPolicy('quarantine'));
    const sender = 'News@Example.co.jp';
    expect(await metric(mg, 'mailguard_breakers_open')).toContain('mailguard_breakers_open 0');
    expect(await metric(mg, 'mailguard_violations_total{rule="breaker"}')).toEqual(['mailguard_violations_total{rule="breaker"} 0']);

    // A clean message before: passes.
    expect((await sendOnce(mg.smtpPort, sender, [MEMBERS[0]!], clean(MEMBERS[0]!, 0))).final).toMatch(/^250 /);
    for (let i = 1; i <= 3; i++) {
      // Each violation is decided by its own rule (reject); the third opens the breaker.
      expect((await sendOnce(mg.smtpPort, sender, MEMBERS, exposing(i))).final).toMatch(/^550 5\.7\.1 /);
    }
    const opened = await mg.waitForLog((l) => l['event'] === 'breaker_opened');
    expect(opened).toMatchObject({ level: 40, breaker: breakerId(sender), violations: 3, windowSeconds: 600, action: 'quarantine' });
    // Masked in the log (log.showAddresses is off): no address anywhere in the line.
    expect(opened['sender']).toBe('n***@e***.jp');
    expect(JSON.stringify(opened)).not.toMatch(/news@example/i);

    // The next clean message from that sender (any case) is held under rule "breaker".
    const held = await sendOnce(mg.smtpPort, 'news@example.co.jp', [MEMBERS[1]!], clean(MEMBERS[1]!, 1));
    expect(held.final).toMatch(/^250 .*held for review ([0-9A-Z]{26})/);
    const heldId = /([0-9A-HJKMNP-TV-Z]{26})/.exec(held.final)![1]!;
    const record = await api(mg, 'GET', `/api/messages/${heldId}`);
    expect(record.body.record ?? record.body).toMatchObject({ status: 'held', verdict: { rule: 'breaker', action: 'quarantine', violation: false } });

    // Another sender is untouched.
    expect((await sendOnce(mg.smtpPort, 'other@example.co.jp', [MEMBERS[2]!], clean(MEMBERS[2]!, 2))).final).toMatch(/^250 /);
    expect(up.messages.map((m) => m.mailFrom.toLowerCase())).toEqual(['news@example.co.jp', 'other@example.co.jp']);

    const listed = await api(mg, 'GET', '/api/breakers');
    expect(listed).toEqual({
      status: 200,
      body: {
        breakers: [
          { id: breakerId(sender), sender: 'news@example.co.jp', openedAt: expect.any(String), violations: 3, windowSeconds: 600, action: 'quarantine' },
        ],
      },
    });
    expect(await metric(mg, 'mailguard_breakers_open')).toContain('mailguard_breakers_open 1');

    const reset = await api(mg, 'POST', `/api/breakers/${breakerId(sender)}/reset`, { reason: 'wrong list fixed' });
    expect(reset).toMatchObject({ status: 200, body: { reset: { id: breakerId(sender), violations: 3 } } });
    expect((await api(mg, 'GET', '/api/breakers')).body).toEqual({ breakers: [] });
    expect(await metric(mg, 'mailguard_breakers_open')).toContain('mailguard_breakers_open 0');

    // Closed: the next clean message passes, and one violation does not reopen it.
    expect((await sendOnce(mg.smtpPort, sender, [MEMBERS[0]!], clean(MEMBERS[0]!, 3))).final).toMatch(/^250 /);
    expect(up.messages).toHaveLength(3);
    await sendOnce(mg.smtpPort, sender, MEMBERS, exposing(4));
    expect((await api(mg, 'GET', '/api/breakers')).body).toEqual({ breakers: [] });

    // Audited with the breaker id and the reason, never the address.
    const store = await openFileStore(mg.storePath);
    cleanups.push(() => store.close());
    const audit = await store.audit.read({ limit: 100 });
    expect(audit.filter((e) => e.action === 'breaker-reset')).toEqual([
      expect.objectContaining({ actor: 'duty', target: breakerId(sender), note: 'wrong list fixed' }),
    ]);
  });

  it('with action tempfail the paused sender gets 451 4.7.1 at the SMTP level; the null sender is never paused', async () => {
    const up = await upstream();
    const mg = await guard(up, breakerPolicy('tempfail', 2));
    for (let i = 1; i <= 2; i++) await sendOnce(mg.smtpPort, 'news@example.co.jp', MEMBERS, exposing(i));
    const { client } = await TestSmtpClient.open(mg.smtpPort);
    cleanups.push(() => client.quit());
    await client.command('EHLO mailer.test');
    const paused = await client.send('news@example.co.jp', [MEMBERS[0]!], clean(MEMBERS[0]!, 1));
    expect(paused.final).toMatch(/^451 4\.7\.1 Mail from this sender is paused/);
    // The same session goes on: another sender, and a bounce, pass.
    expect((await client.send('other@example.co.jp', [MEMBERS[1]!], clean(MEMBERS[1]!, 2))).final).toMatch(/^250 /);
    expect((await client.send('', [MEMBERS[2]!], clean(MEMBERS[2]!, 3))).final).toMatch(/^250 /);
    expect(up.messages.map((m) => m.rcptTo)).toEqual([[MEMBERS[1]], [MEMBERS[2]]]);
    // Nothing of the paused message was kept: the mailer keeps it queued.
    expect((await api(mg, 'GET', '/api/messages?limit=50')).body.records.filter((r: Answer) => r.verdict?.rule === 'breaker')).toEqual([]);
  });

  it('refuses a bad id (400), an unknown one (404) and an unknown field (400); the CLI lists and resets with its exit codes', async () => {
    const up = await upstream();
    const mg = await guard(up, breakerPolicy('quarantine', 1));
    expect(await api(mg, 'POST', '/api/breakers/not-an-id/reset', {})).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/24 lower-case hex/) },
    });
    expect(await api(mg, 'POST', `/api/breakers/${breakerId('nobody@example.co.jp')}/reset`, {})).toMatchObject({
      status: 404,
      body: { error: expect.stringMatching(/no open breaker/) },
    });
    expect(await api(mg, 'POST', `/api/breakers/${breakerId('x@example.co.jp')}/reset`, { why: 'x' })).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/unknown field "why"/) },
    });
    expect(await api(mg, 'GET', '/api/breakers?x=1')).toMatchObject({ status: 400 });

    await sendOnce(mg.smtpPort, 'news@example.co.jp', MEMBERS, exposing(1));
    const env = { ...process.env, MAIL_GUARD_ADMIN_URL: `http://127.0.0.1:${mg.adminPort}`, MAIL_GUARD_TOKEN: TOKEN };
    const cli = (...args: string[]) =>
      run(process.execPath, [CLI, 'breaker', ...args], { env }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const list = await cli('list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(`^ID +OPENED +VIOLATIONS +WINDOW +ACTION +SENDER\\n${breakerId('news@example.co.jp')} .* 1 +600 s +quarantine +news@example\\.co\\.jp\\n$`),
    );
    const reset = await cli('reset', breakerId('news@example.co.jp'), '--reason', 'checked with marketing');
    expect(reset.code).toBe(0);
    expect(JSON.parse(reset.stdout)).toMatchObject({ reset: { sender: 'news@example.co.jp' } });
    expect((await cli('list')).stdout).toBe('no open breakers\n');
    const again = await cli('reset', breakerId('news@example.co.jp'));
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/404: no open breaker/);
    expect((await cli('reset', 'nope')).code).toBe(1);
    await mg.stop();
    const down = await cli('list');
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/cannot reach the admin API/);
    // Seven runs of the built CLI: each starts a Node process, slow on a busy machine.
  }, 90_000);
});

describe('breaker: a store that cannot say whether the sender is paused fails closed', () => {
  it('an unreadable breaker file: every message from a sender is answered 451, none is relayed', async () => {
    const up = await upstream();
    const mg = await guard(up, breakerPolicy('quarantine'));
    expect((await sendOnce(mg.smtpPort, 'news@example.co.jp', [MEMBERS[0]!], clean(MEMBERS[0]!, 1))).final).toMatch(/^250 /);
    await writeFile(join(mg.storePath, 'breakers.json'), '{"open": [truncated');
    expect((await sendOnce(mg.smtpPort, 'news@example.co.jp', [MEMBERS[0]!], clean(MEMBERS[0]!, 2))).final).toMatch(/^451 4\.3\.0 /);
    expect((await api(mg, 'GET', '/api/breakers')).status).toBe(503);
    expect(up.messages).toHaveLength(1);
  });
});

describe.skipIf(!redis)('breaker shared by two instances on one redis-server', () => {
  it('violations at A open it, B pauses the sender, a reset on B closes it for A', async () => {
    const up = await upstream();
    const config = { ...breakerPolicy('tempfail'), store: { type: 'redis', url: redis!.url } };
    const a = await guard(up, config);
    const b = await guard(up, config);
    const sender = 'shared@example.co.jp';
    for (let i = 1; i <= 3; i++) expect((await sendOnce(a.smtpPort, sender, MEMBERS, exposing(i))).final).toMatch(/^550 /);
    await a.waitForLog((l) => l['event'] === 'breaker_opened');
    // Only the instance whose violation opened it says so.
    expect(b.logs.some((l) => l['event'] === 'breaker_opened')).toBe(false);

    expect((await sendOnce(b.smtpPort, sender, [MEMBERS[0]!], clean(MEMBERS[0]!, 1))).final).toMatch(/^451 4\.7\.1 /);
    expect((await sendOnce(a.smtpPort, sender, [MEMBERS[0]!], clean(MEMBERS[0]!, 2))).final).toMatch(/^451 4\.7\.1 /);
    expect((await sendOnce(b.smtpPort, 'other@example.co.jp', [MEMBERS[1]!], clean(MEMBERS[1]!, 3))).final).toMatch(/^250 /);
    expect(await metric(a, 'mailguard_breakers_open')).toContain('mailguard_breakers_open 1');
    expect(await metric(b, 'mailguard_breakers_open')).toContain('mailguard_breakers_open 1');

    expect((await api(b, 'POST', `/api/breakers/${breakerId(sender)}/reset`, { reason: 'fixed' })).status).toBe(200);
    expect((await api(a, 'GET', '/api/breakers')).body).toEqual({ breakers: [] });
    expect((await sendOnce(a.smtpPort, sender, [MEMBERS[2]!], clean(MEMBERS[2]!, 4))).final).toMatch(/^250 /);
    expect(up.messages.map((m) => m.rcptTo)).toEqual([[MEMBERS[1]], [MEMBERS[2]]]);
  });

  it('Redis down: a sender whose breaker cannot be read is answered 451, not relayed', async () => {
    const up = await upstream();
    const mg = await guard(up, { ...breakerPolicy('quarantine'), store: { type: 'redis', url: redis!.url } });
    await redis!.kill();
    try {
      expect((await sendOnce(mg.smtpPort, 'down@example.co.jp', [MEMBERS[0]!], clean(MEMBERS[0]!, 1))).final).toMatch(/^451 4\.3\.0 /);
      expect(up.messages).toHaveLength(0);
    } finally {
      await redis!.restart();
    }
  });
});
