// The audit log through the admin API over real sockets: Fastify on 127.0.0.1,
// the real file store in a temp dir, a real UpstreamPool relaying to a recording
// smtp-server. Every review action that took effect leaves exactly one entry
// under the token's name; one that was refused leaves none; a raw message is
// handed out only once its entry is written.

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdminApi } from '../../src/admin/api.js';
import { configSchema } from '../../src/config/schema.js';
import { newMessageId } from '../../src/message/message-id.js';
import { createJudge } from '../../src/policy/judge.js';
import { verifyChain, type AuditEntry } from '../../src/store/audit-chain.js';
import { openFileStore } from '../../src/store/file-store.js';
import type { MessageStore } from '../../src/store/message-store.js';
import type { MessageRecord } from '../../src/store/record.js';
import { UpstreamPool } from '../../src/upstream/pool.js';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream, type RecordingUpstream, type UpstreamReplyOverride } from '../helpers/recording-upstream.js';

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const TOKENS = { alice: 'alice-audit-token', bob: 'bob-audit-token', carol: 'carol-audit-token' } as const;
type Who = keyof typeof TOKENS;
const TOKEN_CONFIG = [
  { name: 'ops-alice', tokenSha256: sha256(TOKENS.alice), role: 'reviewer' as const },
  { name: 'ops-bob', tokenSha256: sha256(TOKENS.bob), role: 'reviewer' as const },
  { name: 'ops-carol', tokenSha256: sha256(TOKENS.carol), role: 'approver' as const },
];
const RECIPIENTS = ['a.member@ext-one.example', 'b.member@ext-two.example', 'c.member@ext-three.example'];
const RAW = Buffer.from(
  crlf(
    'From: Newsletter <news@example.co.jp>',
    `To: ${RECIPIENTS.join(', ')}`,
    'Subject: Members newsletter',
    'Date: Sun, 29 Nov 2026 08:00:00 +0000',
    'Message-ID: <audit-1@example.co.jp>',
    '',
    'Dear members,',
    '',
  ),
);

interface Harness {
  readonly store: MessageStore;
  readonly storeDir: string;
  readonly upstream: RecordingUpstream;
  setUpstreamReply(reply: UpstreamReplyOverride | undefined): void;
  seed(): Promise<MessageRecord>;
  call(who: Who | null, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Response>;
  /** The whole audit log, as the store has it. */
  audit(): Promise<readonly AuditEntry[]>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startApi(): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'mail-guard-audit-api-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  let upstreamReply: UpstreamReplyOverride | undefined;
  const upstream = await startRecordingUpstream({ reply: () => upstreamReply });
  cleanups.push(() => upstream.close());
  const storeDir = join(dir, 'store');
  const store = await openFileStore(storeDir);
  cleanups.push(() => store.close());
  const upstreamConfig = configSchema.parse({ upstream: { host: upstream.host, port: upstream.port, requireTLS: false, pool: 2 } }).upstream!;
  const pool = new UpstreamPool(upstreamConfig, { connectTimeoutMs: 5000, dataTimeoutMs: 5000 });
  cleanups.push(() => pool.close(1000));
  const app = Fastify({ logger: false });
  const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
  await app.register(
    createAdminApi({
      store,
      relay: pool,
      ledger: store.ledger,
      maxHeaderBytes: 1_048_576,
      splitConcurrency: 2,
      analyse: createJudge(configSchema.parse({ internalDomains: ['example.co.jp'] })).analyse,
      tokens: TOKEN_CONFIG,
      fourEyes: true,
      logger: silent,
    }),
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => app.close());
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const url = `http://127.0.0.1:${address.port}`;
  return {
    store,
    storeDir,
    upstream,
    setUpstreamReply: (reply) => void (upstreamReply = reply),
    async seed() {
      const receivedAt = new Date().toISOString();
      const record: MessageRecord = {
        id: newMessageId(),
        receivedAt,
        status: 'held',
        envelope: { mailFrom: 'news@example.co.jp', rcptTo: RECIPIENTS },
        client: { address: '127.0.0.1', authUser: null },
        from: 'news@example.co.jp',
        subject: 'Members newsletter',
        messageId: '<audit-1@example.co.jp>',
        size: RAW.length,
        sha256: sha256(RAW),
        analysis: null,
        verdict: { rule: 'default', action: 'quarantine', violation: true, reason: '3 external recipients visible in To' },
        history: [{ at: receivedAt, actor: 'mail-guard', action: 'held', note: null }],
      };
      await store.put(record, [RAW]);
      return record;
    },
    call: (who, method, path, body = method === 'POST' ? {} : undefined) =>
      fetch(url + path, {
        method,
        headers: { ...(who ? { authorization: `Bearer ${TOKENS[who]}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    audit: () => store.audit.read({ limit: 1000 }),
  };
}

/** Runs `act` and returns the audit entries it added. */
async function added(h: Harness, act: () => Promise<unknown>): Promise<readonly AuditEntry[]> {
  const before = (await h.audit()).length;
  await act();
  return (await h.audit()).slice(before);
}

/** Makes the audit log unwritable and unreadable for real: its file becomes a directory. */
async function breakAuditFile(h: Harness): Promise<void> {
  const file = join(h.storeDir, 'audit', 'audit.jsonl');
  await rename(file, `${file}.aside`).catch(() => undefined);
  await mkdir(file, { recursive: true });
}

describe('audit entries of review actions', () => {
  it('approve, release, discard and view-raw each leave exactly one entry with the token’s name', async () => {
    const h = await startApi();
    const first = await h.seed();
    const second = await h.seed();

    const approved = await added(h, async () =>
      expect((await h.call('alice', 'POST', `/api/messages/${first.id}/approve`, { reason: 'checked' })).status).toBe(200),
    );
    expect(approved).toEqual([expect.objectContaining({ actor: 'ops-alice', action: 'approve', target: first.id, note: 'checked' })]);

    const released = await added(h, async () => expect((await h.call('bob', 'POST', `/api/messages/${first.id}/release`, { as: 'bcc' })).status).toBe(200));
    expect(released).toEqual([expect.objectContaining({ actor: 'ops-bob', action: 'release', target: first.id, note: 'as bcc: accepted upstream' })]);
    expect(h.upstream.messages).toHaveLength(1);

    let body: Buffer | null = null;
    const viewed = await added(h, async () => {
      const res = await h.call('carol', 'GET', `/api/messages/${second.id}/raw`);
      expect(res.status).toBe(200);
      body = Buffer.from(await res.arrayBuffer());
    });
    expect(body!.equals(RAW)).toBe(true);
    expect(viewed).toEqual([expect.objectContaining({ actor: 'ops-carol', action: 'view-raw', target: second.id, note: null })]);

    const discarded = await added(h, async () =>
      expect((await h.call('alice', 'POST', `/api/messages/${second.id}/discard`, { reason: 'a test send' })).status).toBe(200),
    );
    expect(discarded).toEqual([expect.objectContaining({ actor: 'ops-alice', action: 'discard', target: second.id, note: 'a test send' })]);

    const log = await h.audit();
    expect(log.map((e) => [e.seq, e.action])).toEqual([
      [1, 'approve'],
      [2, 'release'],
      [3, 'view-raw'],
      [4, 'discard'],
    ]);
    expect(verifyChain(log).ok).toBe(true);
  });

  it('a refused action leaves no entry: four-eyes (403), wrong status (409), unknown id (404)', async () => {
    const h = await startApi();
    const record = await h.seed();
    expect((await h.call('alice', 'POST', `/api/messages/${record.id}/approve`)).status).toBe(200);
    expect(await h.audit()).toHaveLength(1);
    const unknown = newMessageId();
    const refusals: Array<[Who, 'GET' | 'POST', string, unknown, number]> = [
      ['alice', 'POST', `/api/messages/${record.id}/release`, { as: 'bcc' }, 403], // approved it herself
      ['bob', 'POST', `/api/messages/${record.id}/release`, { as: 'original' }, 403], // original needs an approver
      ['bob', 'POST', `/api/messages/${record.id}/approve`, {}, 409], // already approved
      ['bob', 'POST', `/api/messages/${unknown}/discard`, { reason: 'x' }, 404],
      ['bob', 'POST', `/api/messages/${unknown}/release`, { as: 'bcc' }, 404],
      ['bob', 'GET', `/api/messages/${unknown}/raw`, undefined, 404],
    ];
    for (const [who, method, path, body, status] of refusals) {
      const entries = await added(h, async () => expect((await h.call(who, method, path, body)).status, `${method} ${path}`).toBe(status));
      expect(entries, `${method} ${path}`).toEqual([]);
    }
    expect((await h.call('bob', 'POST', `/api/messages/${record.id}/discard`, { reason: 'not wanted' })).status).toBe(200);
    const late = await added(h, async () => expect((await h.call('bob', 'POST', `/api/messages/${record.id}/release`, { as: 'bcc' })).status).toBe(409));
    expect(late).toEqual([]);
    expect(h.upstream.messages).toHaveLength(0);
    expect((await h.audit()).map((e) => e.action)).toEqual(['approve', 'discard']);
  });

  it('a release the upstream refused is audited once, with the outcome and the upstream reply in the note', async () => {
    const h = await startApi();
    const record = await h.seed();
    expect((await h.call('carol', 'POST', `/api/messages/${record.id}/approve`)).status).toBe(200);
    h.setUpstreamReply({ code: 451, message: '4.3.0 try later' });
    const failed = await added(h, async () => expect((await h.call('bob', 'POST', `/api/messages/${record.id}/release`, { as: 'split' })).status).toBe(502));
    expect(failed).toEqual([
      expect.objectContaining({
        actor: 'ops-bob',
        action: 'release',
        target: record.id,
        note: expect.stringMatching(/^as split: failed: the upstream relay did not take the message: .*; upstream: .*451 4\.3\.0 try later/),
      }),
    ]);
  });

  it('hands out no raw message when its entry cannot be written (503), and says so when an approval took effect unaudited', async () => {
    const h = await startApi();
    const record = await h.seed();
    await breakAuditFile(h);
    const raw = await h.call('bob', 'GET', `/api/messages/${record.id}/raw`);
    expect(raw.status).toBe(503);
    expect(raw.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await raw.text();
    expect(text).not.toContain('Dear members');
    expect(JSON.parse(text)).toEqual({ error: expect.stringMatching(/store is not reachable/) });

    const approve = await h.call('bob', 'POST', `/api/messages/${record.id}/approve`);
    expect(approve.status).toBe(503);
    expect(await approve.json()).toEqual({
      error: expect.stringMatching(new RegExp(`^message ${record.id} was approved, but the audit log could not record it`)),
    });
    expect((await h.store.get(record.id))?.status).toBe('approved');
  });
});

describe('GET /api/audit', () => {
  async function withEntries(n: number): Promise<{ h: Harness; log: readonly AuditEntry[] }> {
    const h = await startApi();
    for (let i = 0; i < n; i++) {
      await h.store.audit.append({
        actor: i % 2 ? 'ops-bob' : 'ops-alice',
        action: 'view-raw',
        target: `t${i}`,
        note: i === 1 ? '=HYPERLINK("http://x"), "q"\nsecond line' : null,
      });
    }
    return { h, log: await h.audit() };
  }

  it('pages the log as JSON, oldest first, for reviewer and approver tokens; not without a token', async () => {
    const { h, log } = await withEntries(5);
    const page = async (who: Who, query: string) => {
      const res = await h.call(who, 'GET', `/api/audit${query}`);
      expect(res.status).toBe(200);
      return (await res.json()) as { entries: AuditEntry[]; next: number | null };
    };
    expect(await page('alice', '?limit=2')).toEqual({ entries: log.slice(0, 2), next: 2 });
    expect(await page('carol', '?after=2&limit=2')).toEqual({ entries: log.slice(2, 4), next: 4 });
    expect(await page('bob', '?after=4&limit=2')).toEqual({ entries: log.slice(4), next: null });
    expect(await page('bob', '?after=3&limit=2')).toEqual({ entries: log.slice(3), next: null });
    expect(await page('alice', '')).toEqual({ entries: log, next: null });
    expect((await h.call(null, 'GET', '/api/audit')).status).toBe(401);
  });

  it('downloads the whole log as JSONL that verifies, and as CSV with quoting and formulas defused', async () => {
    const { h, log } = await withEntries(3);
    const jsonl = await h.call('alice', 'GET', '/api/audit?format=jsonl');
    expect(jsonl.status).toBe(200);
    expect(jsonl.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(jsonl.headers.get('content-disposition')).toBe('attachment; filename="mail-guard-audit.jsonl"');
    const lines = (await jsonl.text()).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l) as AuditEntry)).toEqual(log);
    expect(verifyChain(lines.map((l) => JSON.parse(l) as unknown)).ok).toBe(true);

    const csv = await h.call('carol', 'GET', '/api/audit?format=csv');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/);
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename="mail-guard-audit.csv"');
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(await csv.arrayBuffer());
    expect(text.startsWith('\ufeffseq,at,actor,action,target,note,prev,hash\r\n')).toBe(true);
    expect(text).toContain(`2,${log[1]!.at},ops-bob,view-raw,t1,"'=HYPERLINK(""http://x""), ""q""\nsecond line",${log[1]!.prev},${log[1]!.hash}\r\n`);
    expect(text.split('\r\n')).toHaveLength(5); // header, 3 entries, the empty rest

    const since = await h.call('alice', 'GET', '/api/audit?format=jsonl&after=2');
    expect(
      (await since.text())
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as AuditEntry).seq),
    ).toEqual([3]);
  });

  it('refuses bad queries (400), and answers 503 when the log cannot be read', async () => {
    const { h } = await withEntries(1);
    for (const query of ['limit=0', 'limit=501', 'after=-1', 'after=x', 'format=xml', 'format=csv&limit=5', 'cursor=abc', 'after=1&after=2']) {
      const res = await h.call('alice', 'GET', `/api/audit?${query}`);
      expect(res.status, query).toBe(400);
      expect(await res.json(), query).toEqual({ error: expect.any(String) });
    }
    await breakAuditFile(h);
    expect((await h.call('alice', 'GET', '/api/audit')).status).toBe(503);
    expect((await h.call('alice', 'GET', '/api/audit?format=csv')).status).toBe(503);
  });
});
