// `serve` with workers: 2 as real processes (node:cluster): both workers take
// connections, /metrics is the sum over them with the store gauges once, a
// worker killed with SIGKILL is started again and counted, and SIGTERM lets the
// transaction in flight finish before a clean exit.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { killServed, serveProcess, type LogLine, type ServedProcess } from '../helpers/serve-process.js';
import { sendOnce, TestSmtpClient } from '../helpers/smtp-client.js';

const upstreams: RecordingUpstream[] = [];
const dirs: string[] = [];

afterEach(async () => {
  killServed();
  for (const u of upstreams.splice(0)) await u.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function serveWorkers(extra: Record<string, unknown> = {}): Promise<{ guard: ServedProcess; relay: RecordingUpstream }> {
  const dir = await mkdtemp(join(tmpdir(), 'mail-guard-workers-'));
  dirs.push(dir);
  const relay = await startRecordingUpstream();
  upstreams.push(relay);
  const guard = await serveProcess(dir, {
    workers: 2,
    store: { path: join(dir, 'store') },
    upstream: { host: '127.0.0.1', port: relay.port, requireTLS: false, pool: 2 },
    internalDomains: ['example.co.jp'],
    shutdownGraceSeconds: 10,
    ...extra,
  });
  return { guard, relay };
}

const clean = (n: number) => `From: app@example.co.jp\r\nTo: a@ext1.com\r\nSubject: clean ${n}\r\nMessage-ID: <clean-${n}@example.co.jp>\r\n\r\nhello\r\n`;
const EXPOSING = 'From: news@example.co.jp\r\nTo: a@ext1.com, b@ext2.com\r\nSubject: leak\r\nMessage-ID: <leak@example.co.jp>\r\n\r\nhi\r\n';

const isMsg = (msg: string) => (l: LogLine) => l['msg'] === msg;
const workerPids = (guard: ServedProcess) => guard.logs.filter(isMsg('worker listening')).map((l) => l['pid'] as number);

describe('serve with workers: 2', () => {
  it('both workers take connections; /metrics sums their counters and reports the store gauges once', async () => {
    const { guard, relay } = await serveWorkers();
    expect(new Set(workerPids(guard)).size).toBe(2);
    const K = 6;
    for (let n = 0; n < K; n++) expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@ext1.com'], clean(n))).final).toMatch(/^250 /);
    expect((await sendOnce(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], EXPOSING)).final).toMatch(/^250 .*held/i);
    await relay.waitForMessages(K);

    // One line per message, each from the worker that handled it: both did (new connections take turns).
    const handled = () => guard.logs.filter(isMsg('message handled'));
    await guard.waitForLog(() => handled().length === K + 1, `${K + 1} "message handled" lines`);
    expect(new Set(handled().map((l) => l['pid']))).toEqual(new Set(workerPids(guard)));

    expect(await guard.metric('mailguard_messages_total{action="pass"}')).toBe(K);
    expect(await guard.metric('mailguard_messages_total{action="quarantine"}')).toBe(1);
    expect(await guard.metric('mailguard_smtp_sessions_total{result="accepted"}')).toBe(K + 1);
    expect(await guard.metric('mailguard_message_bytes_count')).toBe(K + 1);
    // Read from the store by the primary alone: one held record is 1, not 1 per worker.
    expect(await guard.metric('mailguard_quarantine_messages{status="held"}')).toBe(1);
    expect(await guard.metric('mailguard_ready')).toBe(1);
    expect(await guard.metric('mailguard_workers_listening')).toBe(2);
    expect(await guard.metric('mailguard_worker_restarts_total')).toBe(0);

    const ready = await fetch(`http://127.0.0.1:${guard.adminPort}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', workers: '2 of 2 listening' });
  });

  it('a worker killed with SIGKILL is started again, logged once and counted; mail keeps flowing', async () => {
    const { guard, relay } = await serveWorkers();
    const [victim, survivor] = workerPids(guard);
    process.kill(victim!, 'SIGKILL');
    const death = await guard.waitForLog(isMsg('SMTP worker died; starting another'), 'the death');
    expect(death).toMatchObject({ event: 'worker_exit', pid: victim, code: null, signal: 'SIGKILL' });
    const successor = await guard.waitForLog((l) => l['msg'] === 'worker listening' && l['pid'] !== victim && l['pid'] !== survivor, 'the new worker');
    expect(guard.logs.filter(isMsg('SMTP worker died; starting another'))).toHaveLength(1);
    expect(await guard.metric('mailguard_worker_restarts_total')).toBe(1);
    expect(await guard.metric('mailguard_workers_listening')).toBe(2);

    for (let n = 0; n < 4; n++) expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@ext1.com'], clean(n))).final).toMatch(/^250 /);
    await relay.waitForMessages(4);
    const pids = new Set(guard.logs.filter(isMsg('message handled')).map((l) => l['pid']));
    expect(pids).toEqual(new Set([survivor, successor['pid']]));
    // The dead worker's counts are gone with it; the survivors' still add up.
    expect(await guard.metric('mailguard_messages_total{action="pass"}')).toBe(4);
  });

  it('SIGTERM: readiness off, the transaction in DATA on a worker finishes with 250 and is relayed, then exit 0', async () => {
    const { guard, relay } = await serveWorkers();
    const { client, greeting } = await TestSmtpClient.open(guard.smtpPort);
    expect(greeting).toMatch(/^220 /);
    expect(await client.command('EHLO mailer.test')).toMatch(/^250 /);
    expect(await client.command('MAIL FROM:<app@example.co.jp>')).toMatch(/^250 /);
    expect(await client.command('RCPT TO:<a@ext1.com>')).toMatch(/^250 /);
    expect(await client.command('DATA')).toMatch(/^354 /);
    const message = clean(1);
    client.writeRaw(message.slice(0, 40));

    guard.child.kill('SIGTERM');
    await guard.waitForLog(isMsg('draining'), '"draining"');
    // The primary's admin server closes last: readiness says no while the workers drain.
    const ready = await fetch(`http://127.0.0.1:${guard.adminPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'not ready', draining: true, workers: '0 of 2 listening' });

    client.writeRaw(message.slice(40) + '.\r\n');
    expect(await client.reply()).toMatch(/^250 /);
    await client.quit();
    const { code, signal } = await guard.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(relay.messages).toHaveLength(1);
    expect(relay.messages[0]!.raw.toString('latin1')).toBe(message);
    expect(guard.logs.filter(isMsg('worker stopped'))).toHaveLength(2);
    expect(guard.logs.filter(isMsg('SMTP worker died; starting another'))).toHaveLength(0);
    expect(guard.logs.at(-1)?.['msg']).toBe('stopped');
  });
  it('a second signal while the workers drain kills them and exits 1', async () => {
    const { guard } = await serveWorkers();
    const { client } = await TestSmtpClient.open(guard.smtpPort);
    await client.command('EHLO mailer.test');
    await client.command('MAIL FROM:<app@example.co.jp>');
    await client.command('RCPT TO:<a@ext1.com>');
    expect(await client.command('DATA')).toMatch(/^354 /);
    client.writeRaw('From: app@example.co.jp\r\nTo: a@ext1.com\r\n\r\nhalf');
    guard.child.kill('SIGTERM');
    await guard.waitForLog(isMsg('draining'), '"draining"');
    guard.child.kill('SIGINT');
    expect(await guard.exited).toEqual({ code: 1, signal: null });
    // Never answered, so the mailer keeps its message; the worker holding the session is gone.
    expect(await client.reply()).toBe('(connection closed)');
    expect(guard.logs.some(isMsg('second signal: exiting now'))).toBe(true);
  });
});
