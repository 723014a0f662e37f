// SIGHUP against a real `serve` process: the policy, the admin tokens and the
// log level change without a restart, sessions open across the reload keep
// working, a broken file leaves the old config in force (logged, counted), and
// a restart-only key is reported and kept. `mail-guard reload` finds the
// process through the pid file in store.path, or --pid.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { page, signIn } from '../helpers/console-session.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../helpers/scripted-upstream.js';
import { killServed, serveProcess, type LogLine, type ServedProcess } from '../helpers/serve-process.js';
import { sendOnce, TestSmtpClient } from '../helpers/smtp-client.js';

const CLI = resolve('dist/cli/main.js');
const upstreams: RecordingUpstream[] = [];
const scripted: ScriptedUpstream[] = [];
const dirs: string[] = [];

afterEach(async () => {
  killServed();
  for (const u of upstreams.splice(0)) await u.close();
  for (const u of scripted.splice(0)) await u.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const TOKENS = { alice: 'alice-token-0123456789abcdef', bob: 'bob-token-0123456789abcdef' } as const;
const token = (name: keyof typeof TOKENS) => ({ name, tokenSha256: sha256(TOKENS[name]), role: 'reviewer' });

const EXPOSING = (n: number) =>
  `From: news@example.co.jp\r\nTo: a@ext1.com, b@ext2.com\r\nSubject: leak ${n}\r\nMessage-ID: <leak-${n}@example.co.jp>\r\n\r\nhi\r\n`;
const sendExposing = (guard: ServedProcess, n: number) => sendOnce(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], EXPOSING(n));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mail-guard-reload-'));
  dirs.push(dir);
  return dir;
}

async function serveRejecting(extra: Record<string, unknown> = {}): Promise<{ guard: ServedProcess; relay: RecordingUpstream; dir: string }> {
  const dir = await tempDir();
  const relay = await startRecordingUpstream();
  upstreams.push(relay);
  const guard = await serveProcess(dir, {
    store: { path: join(dir, 'store') },
    upstream: { host: '127.0.0.1', port: relay.port, requireTLS: false, pool: 2 },
    internalDomains: ['example.co.jp'],
    policy: { action: 'reject' },
    admin: { tokens: [token('alice')] },
    shutdownGraceSeconds: 10,
    ...extra,
  });
  return { guard, relay, dir };
}

/** Rewrites the served file: the written config with `change` laid over its top-level keys. */
const rewrite = (guard: ServedProcess, change: Record<string, unknown>) => writeFile(guard.configPath, JSON.stringify({ ...guard.config, ...change }, null, 2));
const withPolicy = (guard: ServedProcess, action: string) => ({ policy: { ...(guard.config['policy'] as object), action } });

const events = (guard: ServedProcess, event: string) => guard.logs.filter((l) => l['event'] === event);
/** SIGHUP, then the reload's own outcome line (the n-th of its kind). */
async function hangUp(guard: ServedProcess): Promise<LogLine> {
  const before = events(guard, 'config_reloaded').length + events(guard, 'config_reload_failed').length;
  guard.child.kill('SIGHUP');
  await guard.waitForLog(() => events(guard, 'config_reloaded').length + events(guard, 'config_reload_failed').length > before, 'a reload outcome');
  return [...guard.logs].reverse().find((l) => l['event'] === 'config_reloaded' || l['event'] === 'config_reload_failed')!;
}

const readyz = async (guard: ServedProcess) =>
  (await (await fetch(`http://127.0.0.1:${guard.adminPort}/readyz`)).json()) as { config: { hash: string; loadedAt: string } };
const api = (guard: ServedProcess, name: keyof typeof TOKENS) =>
  fetch(`http://127.0.0.1:${guard.adminPort}/api/messages`, { headers: { authorization: `Bearer ${TOKENS[name]}` } }).then((r) => r.status);

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => res({ code, stdout, stderr }));
  });
}

describe('config reload (SIGHUP)', () => {
  it('switches the policy for the next message, keeps the old config when the new one is broken, and keeps open sessions working', async () => {
    const { guard, relay } = await serveRejecting();
    expect((await sendExposing(guard, 1)).final).toMatch(/^5\d\d /);
    const first = await readyz(guard);
    expect(first.config.hash).toMatch(/^[0-9a-f]{12}$/);

    // A session opened before the reload and used after it.
    const { client } = await TestSmtpClient.open(guard.smtpPort);
    expect(await client.command('EHLO mailer.test')).toMatch(/^250/);

    await rewrite(guard, withPolicy(guard, 'monitor'));
    const reloaded = await hangUp(guard);
    expect(reloaded['event']).toBe('config_reloaded');
    expect((await sendExposing(guard, 2)).final).toMatch(/^250 /);
    expect((await client.send('news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], EXPOSING(3))).final).toMatch(/^250 /);
    await relay.waitForMessages(2);
    const second = await readyz(guard);
    expect(second.config.hash).not.toBe(first.config.hash);
    expect(Date.parse(second.config.loadedAt)).toBeGreaterThanOrEqual(Date.parse(first.config.loadedAt));
    expect(await guard.metric('mailguard_config_reload_total{result="success"}')).toBe(1);

    // Broken: the line names the key, as `serve` (and `config check`) would at start.
    await rewrite(guard, withPolicy(guard, 'explode'));
    const refused = await hangUp(guard);
    expect(refused['event']).toBe('config_reload_failed');
    const atStart = await cli(['config', 'check', '-c', guard.configPath]);
    expect(atStart.code).toBe(2);
    expect(atStart.stderr).toContain('policy.action');
    expect(atStart.stderr.trim()).toBe(`mail-guard: ${refused['error'] as string}`);
    expect(refused['msg']).toBe(`config reload refused: ${refused['error'] as string}; the running config stays in force`);
    expect(await guard.metric('mailguard_config_reload_total{result="failure"}')).toBe(1);
    expect(await guard.metric('mailguard_config_last_reload_success')).toBe(0);
    expect((await readyz(guard)).config.hash).toBe(second.config.hash);

    // Still monitoring, still alive, the old session too.
    expect((await sendExposing(guard, 4)).final).toMatch(/^250 /);
    expect((await client.send('news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], EXPOSING(5))).final).toMatch(/^250 /);
    await relay.waitForMessages(4);
    await client.quit();
    expect(guard.child.exitCode).toBeNull();

    // A good file again: the gauge is back to 1.
    await rewrite(guard, withPolicy(guard, 'reject'));
    expect((await hangUp(guard))['event']).toBe('config_reloaded');
    expect(await guard.metric('mailguard_config_last_reload_success')).toBe(1);
    expect((await sendExposing(guard, 6)).final).toMatch(/^5\d\d /);
  });

  it('takes a new admin token and drops a removed one without a restart; a restart-only key is logged and kept', async () => {
    const { guard } = await serveRejecting();
    expect(await api(guard, 'alice')).toBe(200);
    expect(await api(guard, 'bob')).toBe(401);
    const base = `http://127.0.0.1:${guard.adminPort}`;
    const aliceSession = await signIn(base, TOKENS.alice);
    expect(await page(base, aliceSession, '/ui/')).toContain('data-config-hash');
    const admin = guard.config['admin'] as Record<string, unknown>;
    await rewrite(guard, { admin: { ...admin, tokens: [token('bob')], port: guard.adminPort + 1 }, log: { level: 'debug' } });
    expect((await hangUp(guard))['event']).toBe('config_reloaded');
    expect(await api(guard, 'bob')).toBe(200);
    expect(await api(guard, 'alice')).toBe(401);
    // A console session of the removed token ends; the new token signs in and sees the config that now runs, as /readyz does.
    expect((await fetch(`${base}/ui/`, { headers: { cookie: aliceSession }, redirect: 'manual' })).status).toBe(303);
    const { hash } = (await readyz(guard)).config;
    const overview = await page(base, await signIn(base, TOKENS.bob), '/ui/');
    expect(overview).toContain(`data-config-hash="${hash}"`);
    expect(overview).toContain(`Config ${hash}, loaded`);
    expect(await page(base, await signIn(base, TOKENS.bob, 'ja'), '/ui/overview/live')).toContain(`設定 ${hash}、読み込み日時`);
    const kept = events(guard, 'config_reload_kept');
    expect(kept.map((l) => l['msg'])).toEqual(['config key admin.port changed: needs a restart; kept as it was']);
    // The admin listener is where it was (this request reached it).
    expect(await guard.metric('mailguard_config_reload_total{result="success"}')).toBe(1);
  });
});

describe('a transaction in flight across a reload', () => {
  it('finishes under the config it started with; the next one runs under the new one', async () => {
    const dir = await tempDir();
    let reached!: () => void;
    const atRelay = new Promise<void>((res) => (reached = res));
    let release!: () => void;
    const released = new Promise<void>((res) => (release = res));
    // The relay holds its answer to the first DATA: the message is judged and on its way out when the reload comes.
    let held = false;
    const peer = await startScriptedUpstream({
      holdReply: (verb) => {
        if (verb !== 'DATA' || held) return undefined;
        held = true;
        reached();
        return released;
      },
    });
    scripted.push(peer);
    const guard = await serveProcess(dir, {
      store: { path: join(dir, 'store') },
      upstream: { host: '127.0.0.1', port: peer.port, requireTLS: false, pool: 2 },
      internalDomains: ['example.co.jp'],
      policy: { action: 'monitor' },
    });
    const inFlight = sendExposing(guard, 1);
    await atRelay;
    await rewrite(guard, withPolicy(guard, 'reject'));
    expect((await hangUp(guard))['event']).toBe('config_reloaded');
    release();
    expect((await inFlight).final).toMatch(/^250 /);
    const line = await guard.waitForLog((l) => l['msg'] === 'message handled', 'the in-flight message line');
    expect(line['action']).toBe('monitor');
    expect((await sendExposing(guard, 2)).final).toMatch(/^5\d\d /);
  });
});

describe('mail-guard reload', () => {
  it('signals the serve named by the pid file, or by --pid; the pid file goes on a clean exit', async () => {
    const { guard, dir } = await serveRejecting();
    const pidFile = join(dir, 'store', 'mail-guard.pid');
    expect(existsSync(pidFile)).toBe(true);
    await rewrite(guard, withPolicy(guard, 'monitor'));
    const viaFile = await cli(['reload', '-c', guard.configPath]);
    expect(viaFile.code).toBe(0);
    expect(viaFile.stdout).toContain(`pid ${guard.child.pid}`);
    await guard.waitForLog((l) => l['event'] === 'config_reloaded', 'config reloaded');
    expect((await sendExposing(guard, 1)).final).toMatch(/^250 /);

    const viaPid = await cli(['reload', '--pid', String(guard.child.pid)]);
    expect(viaPid.code).toBe(0);
    await guard.waitForLog(() => events(guard, 'config_reloaded').length === 2, 'a second config reloaded');

    guard.child.kill('SIGTERM');
    expect((await guard.exited).code).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('exits 1 with a clear message when nothing runs, for a stale pid file, and for a pid that is not mail-guard', async () => {
    const dir = await tempDir();
    const configPath = join(dir, 'mail-guard.yaml');
    await writeFile(configPath, JSON.stringify({ store: { path: join(dir, 'store') } }));
    const none = await cli(['reload', '-c', configPath]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no mail-guard is running: .*mail-guard\.pid does not exist/);

    // A process that has exited: its pid is stale.
    const gone = spawn(process.execPath, ['-e', '']);
    const gonePid = gone.pid!;
    await new Promise((res) => gone.once('exit', res));
    await mkdir(join(dir, 'store'), { recursive: true });
    await writeFile(join(dir, 'store', 'mail-guard.pid'), `${gonePid}\n`);
    const stale = await cli(['reload', '-c', configPath]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain(`no mail-guard is running as pid ${gonePid}`);
    expect(stale.stderr).toContain('stale pid file');

    // A live process that is something else (this test's own runner): not signalled.
    const other = await cli(['reload', '--pid', String(process.pid)]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`no mail-guard is running as pid ${process.pid}`);
  });
});
