// The file store's delivery ledger under workers: 2 (real processes). One
// process owns the ledger file, so the primary keeps it and the workers ask:
// a 451 after 9 of 10 split copies on one worker, and the mailer's retry on
// the other, still send every member exactly one copy.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { killServed, serveProcess, type LogLine } from '../helpers/serve-process.js';
import { sendOnce } from '../helpers/smtp-client.js';

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
