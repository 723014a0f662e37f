// The whole review loop through a running mail-guard: SMTP in, held, approved
// by one person, released by another, exactly one upstream transaction — from
// the API, from the CLI, and with two proxies sharing one Redis.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const run = promisify(execFile);
const exposing = crlf('From: news@example.co.jp', 'To: a@ext1.com, b@ext2.com, c@ext3.com', 'Subject: Monthly news', '', 'hello', '');
const envelope = ['a@ext1.com', 'b@ext2.com', 'c@ext3.com'];
const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
const TOKENS = { alice: 'alice-token-0123456789', bob: 'bob-token-0123456789' };
const adminConfig = {
  tokens: [
    { name: 'alice', tokenSha256: sha256(TOKENS.alice), role: 'reviewer' },
    { name: 'bob', tokenSha256: sha256(TOKENS.bob), role: 'approver' },
  ],
};

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function relay(options: Parameters<typeof startRecordingUpstream>[0] = {}): Promise<RecordingUpstream> {
  const u = await startRecordingUpstream(options);
  cleanups.push(() => u.close());
  return u;
}
async function guardWith(port: number, store: Record<string, unknown> = {}, storePath?: string): Promise<RunningMailGuard> {
  const g = await startMailGuard(
    {
      upstream: { host: '127.0.0.1', port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      policy: { action: 'quarantine' },
      admin: adminConfig,
      store,
    },
    storePath,
  );
  cleanups.push(() => g.stop());
  return g;
}
async function hold(guard: RunningMailGuard): Promise<string> {
  const reply = (await sendOnce(guard.smtpPort, 'news@example.co.jp', envelope, exposing)).final;
  const id = /^250 2\.0\.0 held for review ([0-9A-Z]{26})$/.exec(reply)?.[1];
  expect(id, reply).toBeDefined();
  return id!;
}
function api(guard: RunningMailGuard, who: keyof typeof TOKENS, method: string, path: string, body?: object) {
  return fetch(`http://127.0.0.1:${guard.adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKENS[who]}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
}

describe('review through the API', () => {
  it('held → approved by alice → released as bcc by bob: one upstream transaction, full history', async () => {
    const upstream = await relay();
    const guard = await guardWith(upstream.port);
    const id = await hold(guard);

    const listed = (await (await api(guard, 'alice', 'GET', '/api/messages?status=held')).json()) as { records: Array<{ id: string }> };
    expect(listed.records.map((r) => r.id)).toEqual([id]);
    expect((await api(guard, 'alice', 'POST', `/api/messages/${id}/approve`, { reason: 'checked with marketing' })).status).toBe(200);
    expect((await api(guard, 'alice', 'POST', `/api/messages/${id}/release`, { as: 'bcc' })).status).toBe(403);
    const released = await api(guard, 'bob', 'POST', `/api/messages/${id}/release`, { as: 'bcc' });
    expect(released.status).toBe(200);
    expect((await api(guard, 'bob', 'POST', `/api/messages/${id}/release`, { as: 'bcc' })).status).toBe(409);

    expect(upstream.transactions).toBe(1);
    expect(upstream.messages[0]!.rcptTo).toEqual(envelope);
    expect(upstream.messages[0]!.raw.toString()).toBe(
      crlf('From: news@example.co.jp', 'To: undisclosed-recipients:;', 'Subject: Monthly news', '', 'hello', ''),
    );

    const record = (await (await api(guard, 'alice', 'GET', `/api/messages/${id}`)).json()) as {
      status: string;
      history: Array<{ actor: string; action: string }>;
    };
    expect(record.status).toBe('released');
    expect(record.history.map((h) => `${h.actor}:${h.action}`)).toEqual(expect.arrayContaining(['mail-guard:held', 'alice:approve', 'bob:release']));
  });

  it('answers 401 without a token and keeps held mail across a restart', async () => {
    const upstream = await relay();
    const first = await guardWith(upstream.port);
    const id = await hold(first);
    expect((await fetch(`http://127.0.0.1:${first.adminPort}/api/messages`)).status).toBe(401);
    await first.stop();
    const second = await guardWith(upstream.port, {}, first.storePath);
    const record = (await (await api(second, 'alice', 'GET', `/api/messages/${id}`)).json()) as { status: string };
    expect(record.status).toBe('held');
  });
});

describe('review through the CLI', () => {
  const CLI = resolve('dist/cli/main.js');
  const cli = async (guard: RunningMailGuard, who: keyof typeof TOKENS, ...args: string[]) => {
    try {
      const { stdout } = await run(process.execPath, [CLI, 'quarantine', '--admin', `http://127.0.0.1:${guard.adminPort}`, ...args], {
        env: { ...process.env, MAIL_GUARD_TOKEN: TOKENS[who] },
      });
      return { code: 0, stdout, stderr: '' };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('lists, shows, approves, refuses a same-person release, releases as split', async () => {
    const upstream = await relay();
    const guard = await guardWith(upstream.port);
    const id = await hold(guard);

    const list = await cli(guard, 'alice', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^${id}\\s+\\S+ \\S+\\s+held\\s+quarantine\\s+default\\s+3\\s+3\\s+Monthly news$`, 'm'));
    const show = await cli(guard, 'alice', 'show', id);
    expect(JSON.parse(show.stdout)).toMatchObject({ record: { id, status: 'held' }, preview: { subject: 'Monthly news' } });
    expect((await cli(guard, 'bob', 'approve', id, '--reason', 'ok')).code).toBe(0);
    const same = await cli(guard, 'bob', 'release', id, '--as', 'split');
    expect(same.code).toBe(1);
    expect(same.stderr).toMatch(/^mail-guard: 403: /);
    const rel = await cli(guard, 'alice', 'release', id, '--as', 'split');
    expect(rel.code).toBe(0);
    expect(upstream.messages.map((m) => m.rcptTo[0]).sort()).toEqual(envelope);
    expect((await cli(guard, 'alice', 'discard', id, '--reason', 'too late')).code).toBe(1);
  });

  it('exits 3 when the release failed on the way (the upstream did not take it), 1 when refused, 2 without a token', async () => {
    const upstream = await relay({ rcptReply: () => ({ code: 451, message: '4.3.0 try later' }) });
    const guard = await guardWith(upstream.port);
    const id = await hold(guard);
    expect((await cli(guard, 'bob', 'approve', id)).code).toBe(0);
    const failed = await cli(guard, 'alice', 'release', id, '--as', 'bcc');
    expect(failed.stderr).toMatch(/^mail-guard: 502: /);
    expect(failed.code).toBe(3);
    expect((await cli(guard, 'alice', 'approve', id)).code).toBe(1);
    const { MAIL_GUARD_TOKEN: _token, ...noToken } = process.env;
    const withoutToken = await run(process.execPath, [CLI, 'quarantine', '--admin', `http://127.0.0.1:${guard.adminPort}`, 'list'], { env: noToken }).catch(
      (e: { code: number }) => e,
    );
    expect((withoutToken as { code: number }).code).toBe(2);
  });
});

const redis = await startRedisServer();
afterAll(async () => {
  await redis?.stop();
});

describe.skipIf(!redis)('two proxies sharing one Redis', () => {
  it('a record approved once is released exactly once when both proxies release it at the same time', async () => {
    const upstream = await relay();
    const store = { type: 'redis', url: redis!.url };
    const one = await guardWith(upstream.port, store);
    const two = await guardWith(upstream.port, store);
    const ids = [await hold(one), await hold(two)];
    for (const id of ids) {
      expect((await api(two, 'alice', 'POST', `/api/messages/${id}/approve`, {})).status).toBe(200);
      const answers = await Promise.all([
        api(one, 'bob', 'POST', `/api/messages/${id}/release`, { as: 'split' }),
        api(two, 'bob', 'POST', `/api/messages/${id}/release`, { as: 'split' }),
      ]);
      expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    }
    // two records, three copies each, once
    expect(upstream.transactions).toBe(6);
  });
});
