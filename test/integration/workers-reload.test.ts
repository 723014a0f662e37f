// SIGHUP to the primary of `serve` with workers: 2: both workers switch to the
// new policy (messages over several connections, which the workers take in
// turn, all see it), a broken file leaves both on the old one, and a changed
// `workers` is reported and kept.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { killServed, serveProcess, type LogLine, type ServedProcess } from '../helpers/serve-process.js';
import { sendOnce } from '../helpers/smtp-client.js';

const upstreams: RecordingUpstream[] = [];
const dirs: string[] = [];

afterEach(async () => {
  killServed();
  for (const u of upstreams.splice(0)) await u.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const EXPOSING = (n: number) =>
  `From: news@example.co.jp\r\nTo: a@ext1.com, b@ext2.com\r\nSubject: leak ${n}\r\nMessage-ID: <leak-${n}@example.co.jp>\r\n\r\nhi\r\n`;
const CONNECTIONS = 4;

/** One message per new connection; the replies' first digits and which worker pids handled them. */
async function sendRound(guard: ServedProcess, from: number): Promise<{ codes: string[]; pids: Set<unknown> }> {
  const codes: string[] = [];
  for (let n = from; n < from + CONNECTIONS; n++)
    codes.push((await sendOnce(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], EXPOSING(n))).final.slice(0, 1));
  const handled = () => guard.logs.filter((l) => l['msg'] === 'message handled');
  await guard.waitForLog(() => handled().length >= from + CONNECTIONS, `${from + CONNECTIONS} "message handled" lines`);
  return {
    codes,
    pids: new Set(
      handled()
        .slice(from)
        .map((l) => l['pid']),
    ),
  };
}

const outcome = (l: LogLine) => l['event'] === 'config_reloaded' || l['event'] === 'config_reload_failed';
async function hangUp(guard: ServedProcess): Promise<LogLine> {
  const before = guard.logs.filter(outcome).length;
  guard.child.kill('SIGHUP');
  await guard.waitForLog(() => guard.logs.filter(outcome).length > before, 'a reload outcome');
  return guard.logs.filter(outcome).at(-1)!;
}

describe('config reload with workers: 2', () => {
  it('switches both workers, or neither when the file is broken; a changed workers count is kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mail-guard-workers-reload-'));
    dirs.push(dir);
    const relay = await startRecordingUpstream();
    upstreams.push(relay);
    const guard = await serveProcess(dir, {
      workers: 2,
      store: { path: join(dir, 'store') },
      upstream: { host: '127.0.0.1', port: relay.port, requireTLS: false, pool: 2 },
      internalDomains: ['example.co.jp'],
      policy: { action: 'reject' },
      shutdownGraceSeconds: 10,
    });
    const workers = new Set(guard.logs.filter((l) => l['msg'] === 'worker listening').map((l) => l['pid']));
    expect(workers.size).toBe(2);

    const before = await sendRound(guard, 0);
    expect(before.codes).toEqual(Array(CONNECTIONS).fill('5'));
    expect(before.pids).toEqual(workers);

    await writeFile(guard.configPath, JSON.stringify({ ...guard.config, workers: 3, policy: { action: 'monitor' } }));
    expect((await hangUp(guard))['event']).toBe('config_reloaded');
    expect(guard.logs.filter((l) => l['event'] === 'config_reload_kept').map((l) => l['msg'])).toEqual([
      'config key workers changed: needs a restart; kept as it was',
    ]);
    const after = await sendRound(guard, CONNECTIONS);
    expect(after.codes).toEqual(Array(CONNECTIONS).fill('2'));
    expect(after.pids).toEqual(workers);
    await relay.waitForMessages(CONNECTIONS);

    await writeFile(guard.configPath, JSON.stringify({ ...guard.config, policy: { action: 'reject', maxVisibleExternal: -1 } }));
    const refused = await hangUp(guard);
    expect(refused['event']).toBe('config_reload_failed');
    expect(refused['error']).toContain('policy.maxVisibleExternal');
    const still = await sendRound(guard, 2 * CONNECTIONS);
    expect(still.codes).toEqual(Array(CONNECTIONS).fill('2'));
    expect(still.pids).toEqual(workers);
    expect(await guard.metric('mailguard_config_reload_total{result="success"}')).toBe(1);
    expect(await guard.metric('mailguard_config_reload_total{result="failure"}')).toBe(1);
    expect(await guard.metric('mailguard_config_last_reload_success')).toBe(0);
    // Still two workers, none restarted by the reload.
    expect(await guard.metric('mailguard_workers_listening')).toBe(2);
    expect(await guard.metric('mailguard_worker_restarts_total')).toBe(0);
  });
});
