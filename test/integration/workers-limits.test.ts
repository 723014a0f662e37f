// Per-client limits that hold across workers (workers: 2, real processes): the
// primary keeps the counts, so a connection cap and an AUTH lockout bind a
// client whichever worker its connection reaches.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/smtp/password-hash.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { killServed, serveProcess, type LogLine, type ServedProcess } from '../helpers/serve-process.js';
import { TestSmtpClient } from '../helpers/smtp-client.js';
import { TEST_TLS } from '../helpers/test-tls.js';

const TOO_MANY = /^421 4\.7\.0 Too many connections from your address; try again later$/;
const LIMITED = '421 4.7.0 Too many failed authentication attempts from your address; try again later';
const INVALID = '535 5.7.8 Authentication credentials invalid';
const PASSWORD = 'app-secret-1';

const upstreams: RecordingUpstream[] = [];
const dirs: string[] = [];
let hash: string;

beforeAll(async () => {
  hash = await hashPassword(PASSWORD);
});

afterEach(async () => {
  killServed();
  for (const u of upstreams.splice(0)) await u.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function serveWorkers(smtp: Record<string, unknown>, dir?: string): Promise<ServedProcess> {
  const where = dir ?? (await mkdtemp(join(tmpdir(), 'mail-guard-workers-limits-')));
  if (!dir) dirs.push(where);
  const relay = await startRecordingUpstream();
  upstreams.push(relay);
  return serveProcess(where, {
    workers: 2,
    smtp,
    store: { path: join(where, 'store') },
    upstream: { host: '127.0.0.1', port: relay.port, requireTLS: false, pool: 2 },
    internalDomains: ['example.co.jp'],
  });
}

const isMsg = (msg: string) => (l: LogLine) => l['msg'] === msg;
const workerPids = (guard: ServedProcess) => guard.logs.filter(isMsg('worker listening')).map((l) => l['pid']);

/** Which worker handled the message answered with this reply (the reply carries the message's id). */
async function workerOf(guard: ServedProcess, reply: string): Promise<unknown> {
  const line = await guard.waitForLog((l) => l['msg'] === 'message handled' && reply.includes(String(l['id'])), 'the message line');
  return line['pid'];
}

describe('workers: 2, limits the primary keeps', () => {
  it('smtp.maxConnectionsPerClient: 2 holds across workers: the third and fourth concurrent connections are refused, whichever worker took them', async () => {
    const guard = await serveWorkers({ maxConnectionsPerClient: 2 });
    const held = await Promise.all([TestSmtpClient.open(guard.smtpPort), TestSmtpClient.open(guard.smtpPort)]);
    for (const { greeting } of held) expect(greeting).toMatch(/^220 /);
    // Each held session sends one message, so we know the two are on different workers.
    const pids = [];
    for (const { client } of held) {
      await client.command('EHLO mailer.test');
      const { final } = await client.send('app@example.co.jp', ['a@ext1.com'], 'From: app@example.co.jp\r\nTo: a@ext1.com\r\nSubject: s\r\n\r\nhi\r\n');
      expect(final).toMatch(/^250 /);
      pids.push(await workerOf(guard, final));
    }
    expect(new Set(pids)).toEqual(new Set(workerPids(guard)));
    // New connections take turns: of two more, one reaches each worker, and both are over the cap.
    for (const greeting of await Promise.all([1, 2].map(async () => (await TestSmtpClient.open(guard.smtpPort)).greeting))) {
      expect(greeting).toMatch(TOO_MANY);
    }
    expect(await guard.metric('mailguard_smtp_sessions_total{result="denied"}')).toBe(2);
    expect(await guard.metric('mailguard_smtp_sessions_total{result="accepted"}')).toBe(2);
    for (const { client } of held) await client.quit();
  });

  it('an AUTH lockout earned on one worker holds on the other; it is logged and counted once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mail-guard-workers-auth-'));
    dirs.push(dir);
    const tls = { key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') };
    await writeFile(tls.key, TEST_TLS.key);
    await writeFile(tls.cert, TEST_TLS.cert);
    const guard = await serveWorkers({ tls, auth: { required: false, users: [{ name: 'app', passwordHash: hash }] } }, dir);

    /** STARTTLS, one message (to learn the worker), then AUTH PLAIN: the reply to it and the worker's pid. */
    const attempt = async (passwords: string[]) => {
      const { client, greeting } = await TestSmtpClient.open(guard.smtpPort);
      expect(greeting).toMatch(/^220 /);
      await client.command('EHLO mailer.test');
      expect(await client.starttls(TEST_TLS.ca)).toMatch(/^220 /);
      await client.command('EHLO mailer.test');
      const { final } = await client.send('app@example.co.jp', ['a@ext1.com'], 'From: app@example.co.jp\r\nTo: a@ext1.com\r\nSubject: s\r\n\r\nhi\r\n');
      expect(final).toMatch(/^250 /);
      const answers = [];
      for (const password of passwords) answers.push(await client.command(`AUTH PLAIN ${Buffer.from(`\0app\0${password}`).toString('base64')}`));
      client.close();
      return { answers, pid: await workerOf(guard, final) };
    };

    const guessing = await attempt(['guess-1', 'guess-2', 'guess-3', 'guess-4', 'guess-5']);
    expect(guessing.answers).toEqual(Array(5).fill(INVALID));
    // The next two connections reach both workers in turn; on each, the right password meets the lockout.
    const after = [await attempt([PASSWORD]), await attempt([PASSWORD])];
    for (const { answers } of after) expect(answers).toEqual([LIMITED]);
    expect(new Set(after.map((a) => a.pid))).toEqual(new Set(workerPids(guard)));
    expect(after.some((a) => a.pid !== guessing.pid)).toBe(true);

    expect(guard.logs.filter((l) => l['event'] === 'auth_lockout')).toHaveLength(1);
    expect(await guard.metric('mailguard_auth_lockouts_total')).toBe(1);
    expect(await guard.metric('mailguard_smtp_sessions_total{result="auth_failed"}')).toBe(5);
  });
});
