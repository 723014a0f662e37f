// The file store's delivery ledger under workers: 2 (real processes). One
// process owns the ledger file, so the primary keeps it and the workers ask:
// a 451 after 9 of 10 split copies on one worker, and the mailer's retry on
// the other, still send every member exactly one copy. With store.type redis
// the workers share Redis itself, and the store gauges still count once.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { killServed, serveProcess, type LogLine } from '../helpers/serve-process.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startRedisServer } from '../helpers/redis-server.js';

const redis = await startRedisServer();
afterAll(async () => {
  await redis?.stop();
});

const upstreams: RecordingUpstream[] = [];
const dirs: string[] = [];
afterEach(async () => {
  killServed();
  for (const u of upstreams.splice(0)) await u.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const MEMBERS = Array.from({ length: 10 }, (_, i) => `member${i}@ext${i}.example`);
const newsletter = ['From: news@example.co.jp', `To: ${MEMBERS.join(', ')}`, 'Subject: November', 'Message-ID: <nov@example.co.jp>', '', 'news', ''].join(
  '\r\n',
);

describe('workers: 2 with the file store: one delivery ledger', () => {
  it('a 451 on one worker, the retry on the other: each member gets exactly one copy', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mail-guard-workers-ledger-'));
    dirs.push(dir);
    // member3 is busy the first time it is tried, then accepts.
    let busy = true;
    const upstream = await startRecordingUpstream({
      rcptReply: (a) => {
        if (a !== MEMBERS[3] || !busy) return undefined;
        busy = false;
        return { code: 451, message: '4.2.1 mailbox busy, try later' };
      },
    });
    upstreams.push(upstream);
    const guard = await serveProcess(dir, {
      workers: 2,
      store: { path: join(dir, 'store'), ledgerHours: 1 },
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 2 },
      internalDomains: ['example.co.jp'],
      policy: { action: 'split' },
    });

    const first = await sendOnce(guard.smtpPort, 'news@example.co.jp', MEMBERS, newsletter);
    expect(first.final).toMatch(/^451 4\.4\.0 9 of 10 copies were accepted upstream; try again later and only the rest will be sent/);
    expect(upstream.messages).toHaveLength(9);
    const retry = await sendOnce(guard.smtpPort, 'news@example.co.jp', MEMBERS, newsletter);
    expect(retry.final).toMatch(/^250 2\.0\.0 1 of 1 copies accepted upstream, one per recipient; 9 accepted on an earlier attempt/);
    expect(upstream.messages.map((m) => m.rcptTo.join(',')).sort()).toEqual([...MEMBERS].sort());

    // The two attempts were handled by different workers (new connections take turns).
    const lineOf = (reply: string) => (l: LogLine) => typeof l['id'] === 'string' && reply.includes(l['id']);
    const [a, b] = await Promise.all([guard.waitForLog(lineOf(first.final), 'the first attempt'), guard.waitForLog(lineOf(retry.final), 'the retry')]);
    expect(a['pid']).not.toBe(b['pid']);
  });
});

describe.skipIf(!redis)('workers: 2 with the Redis store', () => {
  it('held mail from both workers lands in the one Redis, and the gauge counts it once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mail-guard-workers-redis-'));
    dirs.push(dir);
    const upstream = await startRecordingUpstream();
    upstreams.push(upstream);
    const guard = await serveProcess(dir, {
      workers: 2,
      store: { type: 'redis', url: redis!.url },
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 2 },
      internalDomains: ['example.co.jp'],
    });
    const exposing = (n: number) => `From: news@example.co.jp\r\nTo: a@ext1.com, b@ext2.com\r\nSubject: leak ${n}\r\n\r\nhi\r\n`;
    const held = [await sendOnce(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], exposing(1))];
    held.push(await sendOnce(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], exposing(2)));
    for (const { final } of held) expect(final).toMatch(/^250 .*held/i);
    const lineOf = (reply: string) => (l: LogLine) => typeof l['id'] === 'string' && reply.includes(l['id']);
    const lines = await Promise.all(held.map(({ final }) => guard.waitForLog(lineOf(final), 'a held message')));
    expect(new Set(lines.map((l) => l['pid'])).size).toBe(2);
    expect(await guard.metric('mailguard_quarantine_messages{status="held"}')).toBe(2);
    expect(await guard.metric('mailguard_messages_total{action="quarantine"}')).toBe(2);
  });
});
