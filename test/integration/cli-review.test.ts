// The built CLI against a running mail-guard in rehearsal mode (no upstream):
// real SMTP in, every message captured with its verdict, then `report`,
// `quarantine list` with the new filters and cursor, and `token create` whose
// printed line is pasted into a config that then lets the token in.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { crlf } from '../helpers/crlf.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const run = promisify(execFile);
const CLI = resolve('dist/cli/main.js');
const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
const TOKEN = 'alice-token-0123456789';

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const message = (from: string, to: readonly string[], subject: string) =>
  crlf(`From: ${from}`, `To: ${to.join(', ')}`, `Subject: ${subject}`, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', 'hello', '');
const MEMBERS = ['a@ext1.example', 'b@ext2.example', 'c@ext3.example'];

describe('report and quarantine list against a rehearsal run', () => {
  let guard: RunningMailGuard;
  let env: Record<string, string>;

  beforeAll(async () => {
    guard = await startMailGuard({
      internalDomains: ['example.co.jp'],
      policy: {
        action: 'quarantine',
        rules: [
          { name: 'newsletter', from: 'news@example.co.jp', action: 'split' },
          { name: 'partners', from: 'partners@example.co.jp', action: 'reject' },
        ],
      },
      admin: { tokens: [{ name: 'alice', tokenSha256: sha256(TOKEN), role: 'reviewer' }] },
    });
    env = { MAIL_GUARD_ADMIN_URL: `http://127.0.0.1:${guard.adminPort}`, MAIL_GUARD_TOKEN: TOKEN };
    const sends: Array<[string, readonly string[], string]> = [
      ['news@example.co.jp', MEMBERS, 'Monthly news'],
      ['news@example.co.jp', MEMBERS, 'Monthly news'],
      ['news@example.co.jp', MEMBERS, 'Monthly news'],
      ['news@example.co.jp', ['a@ext1.example'], 'Monthly news'],
      ['partners@example.co.jp', MEMBERS, 'Partner update'],
      ['partners@example.co.jp', MEMBERS, 'Partner update'],
      ['app@example.co.jp', MEMBERS, '春のキャンペーン'],
      ['app@example.co.jp', MEMBERS, '春のキャンペーン'],
    ];
    for (const [from, to, subject] of sends) {
      const { final } = await sendOnce(guard.smtpPort, from, to, message(from, to, subject));
      expect(final).toMatch(/^250 .*captured in rehearsal mode/);
    }
  });
  afterAll(async () => {
    await guard?.stop();
  });

  it('report --json: per campaign what every message would have got and why, complete in rehearsal mode', async () => {
    const r = await cli(['report', '--json'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      mode: 'rehearsal',
      complete: true,
      truncated: false,
      scanned: 8,
      totals: { messages: 8, failedCopies: 0, verdicts: { pass: 1, monitor: 0, bcc: 0, split: 3, quarantine: 2, reject: 2 } },
    });
    const campaigns = report['campaigns'] as Array<Record<string, unknown>>;
    expect(campaigns.map((c) => [c['sender'], c['subject'], c['messages']])).toEqual([
      ['app@example.co.jp', '春のキャンペーン', 2],
      ['partners@example.co.jp', 'Partner update', 2],
      ['news@example.co.jp', 'Monthly news', 4],
    ]);
    expect(campaigns[2]).toMatchObject({
      verdicts: { pass: 1, split: 3, quarantine: 0, reject: 0 },
      reasons: [
        { action: 'split', reason: '3 exposed external addresses > maxVisibleExternal 1', count: 3 },
        { action: 'pass', reason: expect.stringMatching(/within limits$/), count: 1 },
      ],
    });
  });

  it('report: a table with a row per campaign and the reasons under it', async () => {
    const r = await cli(['report'], env);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Rehearsal mode: what mail-guard would have done to every message in the store.');
    expect(lines).toContainEqual(expect.stringMatching(/^MESSAGES +PASS +MONITOR +SPLIT +BCC +HELD +REJECT +SENDER +SUBJECT$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ +4 +1 +0 +3 +0 +0 +0 +news@example\.co\.jp +Monthly news$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ +2 +0 +0 +0 +0 +0 +2 +partners@example\.co\.jp +Partner update$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ +8 +1 +0 +3 +0 +2 +2 +\(all campaigns\)$/));
    const why = lines.indexOf('news@example.co.jp  Monthly news');
    expect(why).toBeGreaterThan(0);
    expect(lines[why + 1]).toBe('  3  split  3 exposed external addresses > maxVisibleExternal 1');
    expect(lines[why + 2]).toMatch(/^ {2}1 {2}pass {3}\d exposed external address\(es\), within limits$/);
  });

  it('report --since: a span back from now, a date, or a refusal naming since', async () => {
    const recent = JSON.parse((await cli(['report', '--json', '--since', '1h'], env)).stdout) as { since: string; totals: { messages: number } };
    expect(recent.totals.messages).toBe(8);
    expect(Date.now() - Date.parse(recent.since)).toBeGreaterThanOrEqual(3_600_000);
    const future = JSON.parse((await cli(['report', '--json', '--since', '2099-01-01'], env)).stdout) as { campaigns: unknown[]; since: string };
    expect(future).toMatchObject({ since: '2099-01-01T00:00:00.000Z', campaigns: [] });
    const bad = await cli(['report', '--since', 'last tuesday'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^mail-guard: 400: since must be an ISO 8601 time/);
    const noToken = await cli(['report'], { MAIL_GUARD_ADMIN_URL: env['MAIL_GUARD_ADMIN_URL']!, MAIL_GUARD_TOKEN: '' });
    expect(noToken.code).toBe(2);
  });

  it('quarantine list: VERDICT and RULE columns, the filters as options', async () => {
    const split = await cli(['quarantine', 'list', '--action', 'split'], env);
    expect(split.code).toBe(0);
    const [head, ...rows] = split.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^ID +RECEIVED +STATUS +VERDICT +RULE +EXPOSED +RCPTS +SUBJECT$/);
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row).toMatch(/^[0-9A-Z]{26} +\S+ \S+ +captured +split +newsletter +3 +3 +Monthly news$/);
    expect(split.stderr).toBe('');

    const count = async (args: string[]) => {
      const r = await cli(['quarantine', 'list', ...args], env);
      expect(r.code, args.join(' ')).toBe(0);
      return r.stdout.trimEnd().split('\n').length - 1;
    };
    expect(await count(['--rule', 'partners'])).toBe(2);
    expect(await count(['--violation', 'false'])).toBe(1);
    expect(await count(['--violation', 'true', '--status', 'captured'])).toBe(7);
    expect(await count(['--q', 'ｷｬﾝﾍﾟｰﾝ'])).toBe(2);
    expect(await count(['--q', 'ＰＡＲＴＮＥＲ'])).toBe(2);
    expect(await count(['--sender', 'NEWS@EXAMPLE.CO.JP'])).toBe(4);
    const refused = await cli(['quarantine', 'list', '--violation', 'maybe'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('mail-guard: 400: violation must be true or false\n');
  });

  it('quarantine list --cursor: the next cursor goes to stderr, stdout stays a table, the pages add up', async () => {
    const first = await cli(['quarantine', 'list', '--sender', 'news@example.co.jp', '--limit', '3'], env);
    expect(first.code).toBe(0);
    const cursor = /^more: --cursor (\S+)\n$/.exec(first.stderr)?.[1];
    expect(cursor, first.stderr).toBeDefined();
    const second = await cli(['quarantine', 'list', '--sender', 'news@example.co.jp', '--limit', '3', '--cursor', cursor!], env);
    expect(second.stderr).toBe('');
    const ids = (out: string) =>
      out
        .trimEnd()
        .split('\n')
        .slice(1)
        .map((row) => row.split(' ')[0]);
    const all = JSON.parse((await cli(['quarantine', 'list', '--sender', 'news@example.co.jp', '--json'], env)).stdout) as {
      records: Array<{ id: string }>;
      nextCursor: string | null;
      scanned: number;
    };
    expect(all.nextCursor).toBeNull();
    expect([...ids(first.stdout), ...ids(second.stdout)]).toEqual(all.records.map((r) => r.id));
    expect(ids(second.stdout)).toHaveLength(1);
  });
});

describe('mail-guard token create', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mail-guard-token-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints a token once and a config line that config check accepts and that lets the token in', async () => {
    const r = await cli(['token', 'create', '--name', 'ops-alice', '--role', 'approver']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/cannot be shown again/);
    const token = /^ {2}([A-Za-z0-9_-]+)$/m.exec(r.stdout)?.[1];
    expect(token).toBeDefined();
    expect(Buffer.from(token!, 'base64url')).toHaveLength(32);
    const line = /^ {4}(- \{ name: .*)$/m.exec(r.stdout)?.[1];
    expect(line).toBe(`- { name: ops-alice, tokenSha256: ${sha256(token!)}, role: approver }`);
    // Never the same token twice.
    const again = await cli(['token', 'create', '--name', 'ops-alice', '--role', 'approver']);
    expect(/^ {2}([A-Za-z0-9_-]+)$/m.exec(again.stdout)?.[1]).not.toBe(token);

    const config = join(dir, 'mail-guard.yaml');
    await writeFile(config, `internalDomains: [example.co.jp]\nadmin:\n  tokens:\n    ${line}\n`);
    const checked = await cli(['config', 'check', '-c', config]);
    expect(checked.stderr).toBe('');
    expect(checked.code).toBe(0);
    expect(checked.stdout).toContain('name: ops-alice');

    // The pasted file, as serve reads it, on a running admin API.
    const guard = await startMailGuard(parse(await readFile(config, 'utf8')) as Record<string, unknown>);
    try {
      const base = `http://127.0.0.1:${guard.adminPort}`;
      const ok = await fetch(`${base}/api/messages`, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      const other = await fetch(`${base}/api/messages`, { headers: { authorization: `Bearer ${token}x` } });
      expect(other.status).toBe(401);
      const listed = await cli(['quarantine', 'list'], { MAIL_GUARD_ADMIN_URL: base, MAIL_GUARD_TOKEN: token! });
      expect(listed.stderr).toBe('');
      expect(listed.code).toBe(0);
    } finally {
      await guard.stop();
    }
  });

  it('quotes a name YAML would read as something else, so the line still reads back as that name', async () => {
    const r = await cli(['token', 'create', '--name', 'null', '--role', 'reviewer']);
    expect(r.code).toBe(0);
    const line = /^ {4}(- \{ name: .*)$/m.exec(r.stdout)![1]!;
    expect(line).toMatch(/^- \{ name: "null", /);
    const config = join(dir, 'quoted.yaml');
    await writeFile(config, `admin:\n  tokens:\n    ${line}\n`);
    expect((await cli(['config', 'check', '-c', config])).code).toBe(0);
  });

  it.each([
    [['--name', 'ops alice', '--role', 'reviewer'], /^mail-guard: --name "ops alice": use 1 to 64 letters/],
    [['--name', 'x'.repeat(65), '--role', 'reviewer'], /^mail-guard: --name "x+": use 1 to 64/],
    [['--name', 'ops-alice', '--role', 'admin'], /^mail-guard: --role "admin": use reviewer .* or approver/],
    [['--role', 'reviewer'], /^mail-guard: --name is required/],
    [['--name', 'ops-alice'], /^mail-guard: --role is required/],
  ])('refuses %j with exit 2 and prints no token', async (args, error) => {
    const r = await cli(['token', 'create', ...args]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(error);
  });
});
