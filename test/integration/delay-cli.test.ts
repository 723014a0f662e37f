// The built CLI for the delay window: discard everything from one sender,
// list stuck release claims, give one back (approver only).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileStore } from '../../src/store/file-store.js';
import type { MessageStore } from '../../src/store/message-store.js';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const run = promisify(execFile);
const CLI = resolve('dist/cli/main.js');
const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
const TOKENS = { alice: 'alice-token-0123456789', bob: 'bob-token-0123456789' };

describe('quarantine discard --sender, claims and retry-claim', () => {
  let upstream: RecordingUpstream;
  let guard: RunningMailGuard;
  let store: MessageStore;

  const cli = async (who: keyof typeof TOKENS, ...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI, 'quarantine', ...args], {
        env: { ...process.env, MAIL_GUARD_ADMIN_URL: `http://127.0.0.1:${guard.adminPort}`, MAIL_GUARD_TOKEN: TOKENS[who] },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const queue = async (from: string, subject: string) => {
    const reply = (await sendOnce(guard.smtpPort, from, ['a@ext1.com'], crlf(`From: ${from}`, 'To: a@ext1.com', `Subject: ${subject}`, '', 'hi', ''))).final;
    const id = /^250 2\.0\.0 queued, leaves at \S+ ([0-9A-Z]{26})$/.exec(reply)?.[1];
    expect(id, reply).toBeDefined();
    return id!;
  };

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    guard = await startMailGuard({
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      // Long enough that nothing leaves while the test runs.
      policy: { delaySeconds: 600 },
      admin: {
        tokens: [
          { name: 'alice', tokenSha256: sha256(TOKENS.alice), role: 'reviewer' },
          { name: 'bob', tokenSha256: sha256(TOKENS.bob), role: 'approver' },
        ],
      },
    });
    store = await openFileStore(guard.storePath);
  });
  afterAll(async () => {
    await store?.close();
    await guard?.stop();
    await upstream?.close();
  });

  it('discards everything waiting from one sender, and refuses an ID together with --sender or neither', async () => {
    const promo = [await queue('promo@example.co.jp', 'One'), await queue('promo@example.co.jp', 'Two')];
    const other = await queue('news@example.co.jp', 'Keep');
    expect(await cli('alice', 'discard', '--reason', 'x')).toMatchObject({ code: 2, stderr: expect.stringMatching(/either a message ID or --sender/) });
    expect(await cli('alice', 'discard', other, '--sender', 'promo@example.co.jp', '--reason', 'x')).toMatchObject({ code: 2 });
    const done = await cli('alice', 'discard', '--sender', 'Promo@Example.co.jp', '--reason', 'wrong list');
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ count: 2, succeeded: 2, failed: 0 });
    for (const id of promo) expect((await store.get(id))?.status).toBe('discarded');
    expect((await store.get(other))?.status).toBe('delayed');
    expect(await cli('alice', 'discard', '--sender', 'promo@example.co.jp', '--reason', 'again')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^mail-guard: 404: /),
    });
    expect(upstream.transactions).toBe(0);
  });

  it('lists an expired claim and gives it back only for an approver', async () => {
    const id = await queue('news@example.co.jp', 'Stuck');
    await store.claimRelease(id, ['delayed'], new Date(Date.now() - 1000));
    const listed = await cli('alice', 'claims');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+delayed\\s+\\S+:${process.pid}\\s+\\S+\\s+\\S+$`, 'm'));
    expect(JSON.parse((await cli('alice', 'claims', '--json')).stdout)).toMatchObject({ claims: [{ id, status: 'delayed' }] });

    expect(await cli('alice', 'retry-claim', id, '--reason', 'relay log shows nothing')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^mail-guard: 403: .*approver/),
    });
    const given = await cli('bob', 'retry-claim', id, '--reason', 'relay log shows nothing');
    expect(given.code, given.stderr).toBe(0);
    expect(JSON.parse(given.stdout)).toMatchObject({ id, status: 'delayed' });
    expect((await cli('bob', 'claims', '--json')).stdout).toContain('"claims": []');
    expect(await cli('bob', 'retry-claim', id, '--reason', 'again')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^mail-guard: 409: /) });
    // Giving it back sends nothing by itself: its releaseAt is ten minutes away.
    expect(upstream.transactions).toBe(0);
  });
});
