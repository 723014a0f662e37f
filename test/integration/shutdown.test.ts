// Shutdown and crash behaviour of the real CLI (`npm test` builds dist/ first):
// SIGTERM drains (readiness off, listener closed, the in-flight transaction
// finishes), a second signal forces the exit, and SIGKILL right after a
// quarantine write loses nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { TestSmtpClient } from '../helpers/smtp-client.js';

const CLI = resolve('dist/cli/main.js');
const GRACE_SECONDS = 5;
const TOKEN = 'shutdown-test-token';

interface Served {
  child: ChildProcess;
  smtpPort: number;
  adminPort: number;
  logs: Array<Record<string, unknown>>;
  output: () => string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

const children: ChildProcess[] = [];
const upstreams: RecordingUpstream[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const u of upstreams.splice(0)) await u.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mail-guard-shutdown-'));
  dirs.push(dir);
  return dir;
}

async function upstream(): Promise<RecordingUpstream> {
  const u = await startRecordingUpstream();
  upstreams.push(u);
  return u;
}

/** Starts `mail-guard serve` on fresh ports and waits for the "listening" log line. */
async function serve(dir: string, storePath: string, relay: RecordingUpstream, extra: Record<string, unknown> = {}): Promise<Served> {
  const smtpPort = await freePort();
  const adminPort = await freePort();
  const config = {
    smtp: { host: '127.0.0.1', port: smtpPort },
    admin: {
      host: '127.0.0.1',
      port: adminPort,
      tokens: [{ name: 'tester', tokenSha256: createHash('sha256').update(TOKEN).digest('hex'), role: 'approver' }],
    },
    store: { path: storePath },
    log: { level: 'info' },
    upstream: { host: '127.0.0.1', port: relay.port, requireTLS: false },
    internalDomains: ['example.co.jp'],
    shutdownGraceSeconds: GRACE_SECONDS,
    ...extra,
  };
  const configPath = join(dir, `mail-guard-${smtpPort}.yaml`);
  await writeFile(configPath, JSON.stringify(config, null, 2)); // JSON is YAML
  const child = spawn(process.execPath, [CLI, 'serve', '-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const logs: Array<Record<string, unknown>> = [];
  let text = '';
  let pending = '';
  const waiters: Array<{ msg: string; resolve: (l: Record<string, unknown>) => void }> = [];
  const onLine = (line: string) => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    logs.push(parsed);
    for (const w of [...waiters]) {
      if (typeof parsed['msg'] === 'string' && parsed['msg'].startsWith(w.msg)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(parsed);
      }
    }
  };
  const onChunk = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    pending += chunk.toString('utf8');
    let i: number;
    while ((i = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, i));
      pending = pending.slice(i + 1);
    }
  };
  child.stdout!.on('data', onChunk);
  child.stderr!.on('data', onChunk);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const waitForLog = (msg: string, timeoutMs = 15_000) => {
    const seen = logs.find((l) => typeof l['msg'] === 'string' && l['msg'].startsWith(msg));
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, unknown>>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`no "${msg}" log line within ${timeoutMs} ms; output:\n${text}`)), timeoutMs);
      waiters.push({ msg, resolve: (l) => (clearTimeout(timer), res(l)) });
      void exited.then(() => {
        clearTimeout(timer);
        rej(new Error(`mail-guard exited before "${msg}"; output:\n${text}`));
      });
    });
  };
  await waitForLog('mail-guard listening');
  return { child, smtpPort, adminPort, logs, output: () => text, exited, waitForLog };
}

/** What a brand-new SMTP client gets now: the greeting line, or how the connection failed. */
function newConnectionOutcome(port: number): Promise<string> {
  return new Promise((res) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => (socket.destroy(), res(`(no answer) ${data}`)), 5_000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (data.includes('\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        res(data.split('\r\n')[0]!);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (clearTimeout(timer), res(`(error ${err.code})`)));
    socket.on('close', () => (clearTimeout(timer), res(data ? data.split('\r\n')[0]! : '(closed)')));
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms))]);
}

const CLEAN_HEAD = 'From: app@example.co.jp\r\nTo: a@ext1.com\r\nSubject: in flight\r\nMessage-ID: <inflight@example.co.jp>\r\n\r\n';
const CLEAN_BODY = 'first half of the body\r\nsecond half of the body\r\n';

describe('mail-guard serve: shutdown', () => {
  it('SIGTERM drains: readiness 503, no new sessions, the transaction mid-DATA finishes and is relayed, exit 0', async () => {
    const dir = await tempDir();
    const relay = await upstream();
    const guard = await serve(dir, join(dir, 'store'), relay);

    const { client, greeting } = await TestSmtpClient.open(guard.smtpPort);
    expect(greeting).toMatch(/^220 /);
    expect(await client.command('EHLO mailer.test')).toMatch(/^250 /);
    expect(await client.command('MAIL FROM:<app@example.co.jp>')).toMatch(/^250 /);
    expect(await client.command('RCPT TO:<a@ext1.com>')).toMatch(/^250 /);
    expect(await client.command('DATA')).toMatch(/^354 /);
    client.writeRaw(CLEAN_HEAD + 'first half of the body\r\n');

    const started = Date.now();
    guard.child.kill('SIGTERM');
    await guard.waitForLog('draining');

    // Readiness is off while the drain waits for the open session (admin closes only after ingress).
    const ready = await fetch(`http://127.0.0.1:${guard.adminPort}/readyz`);
    expect(ready.status).toBe(503);
    await ready.body?.cancel();

    // The listener is closed: a new client is refused (or, at worst, told 421).
    const fresh = await newConnectionOutcome(guard.smtpPort);
    expect(fresh).toMatch(/^\(error ECONNREFUSED\)$|^421 /);

    // The in-flight transaction finishes and reaches the upstream, exactly once.
    client.writeRaw('second half of the body\r\n.\r\n');
    const final = await client.reply();
    expect(final).toMatch(/^250 /);
    await client.quit();

    const { code, signal } = await withTimeout(guard.exited, (GRACE_SECONDS + 5) * 1000, 'exit after drain');
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan((GRACE_SECONDS + 5) * 1000);
    expect(relay.messages).toHaveLength(1);
    expect(relay.messages[0]!.rcptTo).toEqual(['a@ext1.com']);
    expect(relay.messages[0]!.raw.toString('latin1')).toBe(CLEAN_HEAD + CLEAN_BODY);
    expect(guard.logs.some((l) => l['msg'] === 'stopped')).toBe(true);
  });

  it('a second signal forces the exit (code 1) while the drain waits; nothing answered 250 is missing upstream', async () => {
    const dir = await tempDir();
    const relay = await upstream();
    const guard = await serve(dir, join(dir, 'store'), relay);

    // One message fully accepted before the signal.
    const { client: done } = await TestSmtpClient.open(guard.smtpPort);
    await done.command('EHLO mailer.test');
    const before = await done.send('app@example.co.jp', ['a@ext1.com'], CLEAN_HEAD + CLEAN_BODY);
    expect(before.final).toMatch(/^250 /);

    // An idle session keeps the drain waiting; another is mid-DATA when the force comes.
    const { client: idle } = await TestSmtpClient.open(guard.smtpPort);
    expect(await idle.command('EHLO idle.test')).toMatch(/^250 /);
    const { client: mid } = await TestSmtpClient.open(guard.smtpPort);
    await mid.command('EHLO mid.test');
    await mid.command('MAIL FROM:<app@example.co.jp>');
    await mid.command('RCPT TO:<b@ext2.com>');
    expect(await mid.command('DATA')).toMatch(/^354 /);
    mid.writeRaw('From: app@example.co.jp\r\nTo: b@ext2.com\r\nSubject: cut off\r\n\r\nhalf');

    guard.child.kill('SIGTERM');
    await guard.waitForLog('draining');
    const forcedAt = Date.now();
    guard.child.kill('SIGTERM');

    const { code, signal } = await withTimeout(guard.exited, GRACE_SECONDS * 1000, 'exit after second signal');
    expect(signal).toBeNull();
    expect(code).toBe(1);
    expect(Date.now() - forcedAt).toBeLessThan(GRACE_SECONDS * 1000);
    expect(guard.logs.some((l) => l['msg'] === 'second signal: exiting now')).toBe(true);

    // The cut-off transaction was never acknowledged, the accepted one is upstream.
    expect(await mid.reply()).toBe('(connection closed)');
    // The idle session was told at the first signal.
    expect(await idle.reply()).toMatch(/^421 4\.3\.2 /);
    expect(relay.messages).toHaveLength(1);
    expect(relay.messages[0]!.raw.toString('latin1')).toBe(CLEAN_HEAD + CLEAN_BODY);
    await Promise.all([done.quit(), idle.quit(), mid.quit()]);
  });

  it('idle pooled sessions do not hold up a drain: they get 421 4.3.2 and the process exits 0 at once', async () => {
    const dir = await tempDir();
    const relay = await upstream();
    const guard = await serve(dir, join(dir, 'store'), relay);
    const idle = await Promise.all([1, 2, 3].map(() => TestSmtpClient.open(guard.smtpPort)));
    for (const { client } of idle) expect(await client.command('EHLO pool.test')).toMatch(/^250 /);
    const signalledAt = Date.now();
    guard.child.kill('SIGTERM');
    for (const { client } of idle) expect(await client.reply()).toMatch(/^421 4\.3\.2 mail-guard is shutting down/);
    const { code } = await withTimeout(guard.exited, GRACE_SECONDS * 1000, 'exit after SIGTERM');
    expect(code).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(GRACE_SECONDS * 1000);
    await Promise.all(idle.map(({ client }) => client.quit()));
  });

  it('SIGKILL right after "held for review": a new serve on the same store has the record, held, with the exact bytes', async () => {
    const dir = await tempDir();
    const storePath = join(dir, 'store');
    const relay = await upstream();
    const policy = { policy: { action: 'quarantine' } };
    const guard = await serve(dir, storePath, relay, policy);

    const rcpt = ['a@ext1.com', 'b@ext2.com', 'c@ext3.com'];
    const message =
      'From: news@example.co.jp\r\nTo: a@ext1.com, b@ext2.com, c@ext3.com\r\nSubject: =?UTF-8?B?5pil44Gu44Kt44Oj44Oz44Oa44O844Oz?=\r\n' +
      'Message-ID: <leak@example.co.jp>\r\n\r\nline one\r\n.leading dot line (stuffed on the wire)\r\n\u00e9t\u00e9 bytes\r\n';
    const bytes = Buffer.from(message, 'utf8');

    const { client } = await TestSmtpClient.open(guard.smtpPort);
    await client.command('EHLO mailer.test');
    const sent = await client.send('news@example.co.jp', rcpt, bytes);
    const held = /^250 2\.0\.0 held for review (\S+)$/.exec(sent.final);
    guard.child.kill('SIGKILL'); // as soon as the client has seen the 250
    expect(held, sent.final).not.toBeNull();
    const id = held![1]!;
    const killed = await withTimeout(guard.exited, 10_000, 'exit after SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    await client.quit();
    expect(relay.messages).toHaveLength(0);

    const again = await serve(dir, storePath, relay, policy);
    const auth = { authorization: `Bearer ${TOKEN}` };
    const recordRes = await fetch(`http://127.0.0.1:${again.adminPort}/api/messages/${id}`, { headers: auth });
    expect(recordRes.status).toBe(200);
    const record = (await recordRes.json()) as Record<string, unknown>;
    expect(record).toMatchObject({ id, status: 'held', envelope: { mailFrom: 'news@example.co.jp', rcptTo: rcpt } });
    expect(record['sha256']).toBe(createHash('sha256').update(bytes).digest('hex'));
    const rawRes = await fetch(`http://127.0.0.1:${again.adminPort}/api/messages/${id}/raw`, { headers: auth });
    expect(rawRes.status).toBe(200);
    expect(Buffer.from(await rawRes.arrayBuffer()).equals(bytes)).toBe(true);

    again.child.kill('SIGTERM');
    expect((await withTimeout(again.exited, (GRACE_SECONDS + 5) * 1000, 'exit after drain')).code).toBe(0);
  });
});
