// Issue 14 through the real proxy: address lists in a forwarded message, an
// attachment or a bound, as the mailer, the upstream, the store and the log
// see them; the clean corpus stays clean with policy.content on.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeMessage } from '../../src/actions/judge-message.js';
import { parseConfigObject } from '../../src/config/load.js';
import { assembleMessage } from '../../src/message/message-bytes.js';
import { createJudge } from '../../src/policy/judge.js';
import type { MessageRecord } from '../../src/store/record.js';
import { forwardedNewsletter, manyParts, members, membersCsv, RECIPIENT, SENDER } from '../helpers/content-messages.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const TOKEN = 'content-reviewer-token-0123456789';
const admin = { tokens: [{ name: 'rita', tokenSha256: createHash('sha256').update(TOKEN).digest('hex'), role: 'approver' }] };

let upstream: RecordingUpstream;
const guards: RunningMailGuard[] = [];
beforeAll(async () => {
  upstream = await startRecordingUpstream();
});
afterAll(async () => {
  for (const g of guards) await g.stop();
  await upstream.close();
});

async function guardWith(policy: Record<string, unknown>): Promise<RunningMailGuard> {
  const guard = await startMailGuard({
    upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false },
    internalDomains: ['example.co.jp'],
    policy,
    admin,
  });
  guards.push(guard);
  return guard;
}

async function recordOf(guard: RunningMailGuard, id: string): Promise<MessageRecord> {
  const res = await fetch(`http://127.0.0.1:${guard.adminPort}/api/messages/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as MessageRecord;
}

const heldId = (final: string): string => {
  const id = /^250 2\.0\.0 held for review ([0-9A-Z]{26})$/.exec(final)?.[1];
  expect(id, final).toBeDefined();
  return id!;
};

/** The log line of the message the reply names. */
const lineFor = (guard: RunningMailGuard, final: string) => {
  const id = /([0-9A-Z]{26})/.exec(final)?.[1];
  return guard.waitForLog((l) => l['msg'] === 'message handled' && (id === undefined || l['id'] === id));
};

describe('content through the proxy', () => {
  it('holds a forwarded newsletter with 50 members in its inner To, naming the forwarded part; nothing reaches the upstream', async () => {
    const guard = await guardWith({ content: { maxAddresses: 20 } });
    const before = upstream.received.length;
    const inner = members(50);
    const { final } = await sendOnce(guard.smtpPort, SENDER, [RECIPIENT], forwardedNewsletter(inner));
    const id = heldId(final);
    expect(upstream.received.length).toBe(before);
    const record = await recordOf(guard, id);
    expect(record.verdict).toMatchObject({
      action: 'quarantine',
      violation: true,
      reason: 'the forwarded message (part 2) lists 50 external addresses > content.maxAddresses 20',
    });
    expect(record.analysis?.content).toMatchObject({ externalCount: 50, bound: null });
    expect(record.analysis?.content?.locations[0]).toMatchObject({ part: '2', carrier: 'forwarded-headers', externalCount: 50 });
    // Masked in the store as in the log.
    const json = JSON.stringify(record.analysis);
    for (const address of inner) expect(json).not.toContain(address);
    expect(record.analysis?.content?.locations[0]?.addresses[0]).toMatch(/^m\*\*\*@m\*\*\*\.example$/);
  });

  it('rejects a members.csv attachment with action reject: the exact 550 5.7.1 line, no filename in it', async () => {
    const guard = await guardWith({ content: { maxAddresses: 20, action: 'reject' } });
    const { final } = await sendOnce(guard.smtpPort, SENDER, [RECIPIENT], membersCsv(members(832)));
    // The reply carries the message id, as every reject does.
    expect(final).toMatch(
      /^550 5\.7\.1 Message lists 832 external addresses in an attachment; remove the address list from the message, or share it in a way that does not send it to every recipient \[[0-9A-Z]{26}\]$/,
    );
  });

  it('relays with action monitor, and the log line says where (masked)', async () => {
    const guard = await guardWith({ content: { maxAddresses: 20, action: 'monitor' } });
    const before = upstream.messages.length;
    const { final } = await sendOnce(guard.smtpPort, SENDER, [RECIPIENT], membersCsv(members(30)));
    expect(final).toMatch(/^250 /);
    await upstream.waitForMessages(before + 1);
    const line = await lineFor(guard, final);
    expect(line).toMatchObject({
      action: 'monitor',
      violation: true,
      reason: 'the attachment members.csv lists 30 external addresses > content.maxAddresses 20',
      content: { externalCount: 30, places: ['2:text/csv:members.csv:30'], uninspected: 0, bound: null },
    });
    expect(JSON.stringify(line)).not.toMatch(/member\d+@/);
  });

  it('a rule threshold overrides the policy one', async () => {
    const guard = await guardWith({
      content: { maxAddresses: 100, action: 'monitor' },
      rules: [{ name: 'hr-exports', from: 'hr@example.co.jp', content: { maxAddresses: 5, action: 'reject' } }],
    });
    const hr = await sendOnce(guard.smtpPort, 'hr@example.co.jp', [RECIPIENT], membersCsv(members(30)));
    expect(hr.final).toMatch(/^550 5\.7\.1 Message lists 30 external addresses in an attachment/);
    const other = await sendOnce(guard.smtpPort, SENDER, [RECIPIENT], membersCsv(members(30)));
    expect(other.final).toMatch(/^250 /);
    expect(await lineFor(guard, other.final)).toMatchObject({ action: 'pass', violation: false, rule: 'default' });
  });

  it('holds a message a bound stopped (limits.maxParts 3 on a 5-part message), naming the bound', async () => {
    const guard = await guardWith({ content: { maxAddresses: 20, limits: { maxParts: 3 } } });
    const { final } = await sendOnce(guard.smtpPort, SENDER, [RECIPIENT], manyParts(5));
    const record = await recordOf(guard, heldId(final));
    expect(record.verdict).toMatchObject({ action: 'quarantine', reason: 'content scan stopped at policy.content.limits.maxParts (3)' });
    expect(record.analysis?.content?.bound).toEqual({ kind: 'parts', limit: 3 });
  });

  it('counts every scan in mailguard_content_scans_total{result}', async () => {
    const guard = await guardWith({ content: { maxAddresses: 20, limits: { maxParts: 3 } } });
    await sendOnce(guard.smtpPort, SENDER, [RECIPIENT], 'From: alice@example.co.jp\r\nTo: partner@partner.example\r\nSubject: hi\r\n\r\nno list here\r\n');
    await sendOnce(guard.smtpPort, SENDER, [RECIPIENT], membersCsv(members(30)));
    await sendOnce(guard.smtpPort, SENDER, [RECIPIENT], manyParts(5));
    const metrics = await (await fetch(`http://127.0.0.1:${guard.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/mailguard_content_scans_total\{result="skipped"\} 1\b/);
    expect(metrics).toMatch(/mailguard_content_scans_total\{result="scanned"\} 1\b/);
    expect(metrics).toMatch(/mailguard_content_scans_total\{result="bound"\} 1\b/);
  });
});

describe('the clean corpus with policy.content on', () => {
  const dir = new URL('../fixtures/eml/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.eml'));
  const verdicts = (policy: Record<string, unknown>) => {
    const config = parseConfigObject({ internalDomains: ['example.co.jp'], policy });
    const { analyse, decide, scanContent } = createJudge(config, () => performance.now());
    return (file: string) => {
      const message = assembleMessage([readFileSync(new URL(file, dir))], config.smtp.maxHeaderBytes);
      return judgeMessage(analyse, decide, message, { mailFrom: SENDER, rcptTo: [RECIPIENT], clientAddress: '127.0.0.1' }, scanContent).verdict;
    };
  };

  it('every fixture that passes today still passes, with the same reason', () => {
    // Lenient header thresholds, so every fixture the header analysis can read is in the corpus.
    const off = verdicts({ maxVisibleExternal: 100_000 });
    const on = verdicts({ maxVisibleExternal: 100_000, content: { maxAddresses: 20 } });
    const passing = files.filter((f) => off(f).action === 'pass');
    expect(passing.length).toBeGreaterThan(10);
    for (const file of passing) expect({ file, verdict: on(file) }).toEqual({ file, verdict: off(file) });
  });
});

describe('mail-guard check and the wire agree on every content fixture', () => {
  // The core helper's per-carrier fixtures, plus the ones built here.
  const FIXTURES = resolve('test/fixtures/content');
  const CLI = resolve('dist/cli/main.js');
  const policy = { content: { maxAddresses: 20, limits: { maxParts: 50 } } };

  it('gives the same action offline as over SMTP', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mail-guard-content-check-'));
    const files: string[] = existsSync(FIXTURES)
      ? readdirSync(FIXTURES)
          .filter((f) => f.endsWith('.eml'))
          .map((f) => join(FIXTURES, f))
      : [];
    const built = {
      'forwarded-50.eml': forwardedNewsletter(members(50)),
      'members-832.eml': membersCsv(members(832)),
      'csv-10.eml': membersCsv(members(10)),
      'parts-60.eml': manyParts(60),
    };
    for (const [name, raw] of Object.entries(built)) {
      await writeFile(join(dir, name), raw);
      files.push(join(dir, name));
    }
    const config = join(dir, 'mail-guard.yaml');
    await writeFile(config, JSON.stringify({ internalDomains: ['example.co.jp'], policy }));
    const checked = await promisify(execFile)(process.execPath, [CLI, 'check', '-c', config, '--json', '--from', SENDER, '--rcpt', RECIPIENT, ...files]).catch(
      (err: { stdout: string }) => ({ stdout: err.stdout }),
    );
    const offline = new Map((JSON.parse(checked.stdout) as { file: string; action: string }[]).map((v) => [v.file, v.action]));

    const guard = await guardWith(policy);
    const handled = () => guard.logs.filter((l) => l['msg'] === 'message handled' || l['msg'] === 'message deferred');
    const wire = new Map<string, string>();
    for (const file of files) {
      const count = handled().length;
      await sendOnce(guard.smtpPort, SENDER, [RECIPIENT], readFileSync(file));
      await guard.waitForLog(() => handled().length > count);
      wire.set(file, String(handled()[count]!['action']));
    }
    expect(new Set(wire.values()).size).toBeGreaterThan(1);
    expect(Object.fromEntries(offline)).toEqual(Object.fromEntries(wire));
  });
});
