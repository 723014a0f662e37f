// The review API over real sockets: Fastify on 127.0.0.1, the real file store in
// a temp dir, a real UpstreamPool relaying to a recording smtp-server. Nothing is
// faked: what the tests assert left the machine is what the upstream recorded.

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdminApi } from '../../src/admin/api.js';
import { configSchema } from '../../src/config/schema.js';
import { createJudge } from '../../src/policy/judge.js';
import { newMessageId } from '../../src/message/message-id.js';
import { openFileStore } from '../../src/store/file-store.js';
import type { MessageStore } from '../../src/store/message-store.js';
import type { AddressMasker, HistoryEntry, MessageRecord, RecordStatus } from '../../src/store/record.js';
import { UpstreamPool } from '../../src/upstream/pool.js';
import { crlf } from '../helpers/crlf.js';
import { forwardedNewsletter, members } from '../helpers/content-messages.js';
import { makeAddressMasker } from '../../src/observability/mask.js';
import { startRecordingUpstream, type RecordedTransaction, type RecordingUpstream, type UpstreamReplyOverride } from '../helpers/recording-upstream.js';

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

const TOKENS = { alice: 'alice-secret-token', bob: 'bob-secret-token', carol: 'carol-approver-token' } as const;
const TOKEN_CONFIG = [
  { name: 'alice', tokenSha256: sha256(TOKENS.alice), role: 'reviewer' as const },
  { name: 'bob', tokenSha256: sha256(TOKENS.bob), role: 'reviewer' as const },
  { name: 'carol', tokenSha256: sha256(TOKENS.carol), role: 'approver' as const },
];
type Who = keyof typeof TOKENS;

const RECIPIENTS = ['a.member@ext-one.example', 'b.member@ext-two.example', 'c.member@ext-three.example'];
const TO_LINE = `To: ${RECIPIENTS.join(', ')}`;

function newsletter(subject = 'Members newsletter, November'): Buffer {
  return Buffer.from(
    crlf(
      'Received: from app1 by mailer; Sun, 29 Nov 2026 08:00:00 +0000',
      'From: Newsletter <news@example.co.jp>',
      TO_LINE,
      `Subject: ${subject}`,
      'Date: Sun, 29 Nov 2026 08:00:00 +0000',
      'Message-ID: <n-1@example.co.jp>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Dear members,',
      '.a line that starts with a dot',
      'see you soon',
      '',
    ),
  );
}

function heldRecord(raw: Buffer, overrides: Partial<MessageRecord> & { subject?: string | null } = {}): MessageRecord {
  const receivedAt = new Date().toISOString();
  return {
    id: newMessageId(),
    receivedAt,
    status: 'held',
    envelope: { mailFrom: 'news@example.co.jp', rcptTo: RECIPIENTS },
    client: { address: '127.0.0.1', authUser: null },
    from: 'news@example.co.jp',
    subject: 'Members newsletter, November',
    messageId: '<n-1@example.co.jp>',
    size: raw.length,
    sha256: sha256(raw),
    analysis: {
      visibleCount: 3,
      visibleExternalCount: 3,
      exposedExternalCount: 3,
      exposedExternalDomainCount: 3,
      exposingHeaders: ['To'],
      truncated: false,
      exposedExternal: ['a***@e***.example', 'b***@e***.example', 'c***@e***.example'],
    },
    verdict: { rule: 'default', action: 'quarantine', violation: true, reason: '3 external recipients visible in To' },
    history: [{ at: receivedAt, actor: 'mail-guard', action: 'held', note: null }],
    ...overrides,
  };
}

interface Harness {
  url: string;
  store: MessageStore;
  upstream: RecordingUpstream;
  /** Change what the upstream answers to the final dot (undefined = accept). */
  setUpstreamReply(reply: UpstreamReplyOverride | undefined): void;
  setUpstreamReplyFor(reply: (tx: RecordedTransaction) => UpstreamReplyOverride | undefined): void;
  seed(raw?: Buffer, overrides?: Partial<MessageRecord>): Promise<MessageRecord>;
  call(method: 'GET' | 'POST', path: string, options?: { as?: Who | null; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  post(who: Who, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
  get(who: Who, path: string): Promise<{ status: number; json: Record<string, unknown> }>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startApi(options: { fourEyes?: boolean; rehearsal?: boolean; mask?: AddressMasker } = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'mail-guard-admin-api-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  let upstreamReply: (tx: RecordedTransaction) => UpstreamReplyOverride | undefined = () => undefined;
  const upstream = await startRecordingUpstream({ reply: (tx) => upstreamReply(tx) });
  cleanups.push(() => upstream.close());
  const store = await openFileStore(join(dir, 'store'));
  cleanups.push(() => store.close());
  const ledger = store.ledger;
  const upstreamConfig = configSchema.parse({ upstream: { host: upstream.host, port: upstream.port, requireTLS: false, pool: 2 } }).upstream!;
  const pool = options.rehearsal ? null : new UpstreamPool(upstreamConfig, { connectTimeoutMs: 5000, dataTimeoutMs: 5000 });
  if (pool) cleanups.push(() => pool.close(1000));

  // Mounted the way the admin server does: next to an open /healthz and a root 404.
  const app: FastifyInstance = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
  await app.register(
    createAdminApi({
      store,
      relay: pool,
      ledger,
      maxHeaderBytes: 1_048_576,
      splitConcurrency: 2,
      analyse: createJudge(configSchema.parse({ internalDomains: ['example.co.jp'] })).analyse,
      tokens: TOKEN_CONFIG,
      fourEyes: options.fourEyes ?? true,
      logger: silent,
      ...(options.mask ? { mask: options.mask } : {}),
    }),
  );
  app.setNotFoundHandler((request, reply) => void reply.code(404).send({ error: `no route for ${request.method} ${request.url}` }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => app.close());
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const url = `http://127.0.0.1:${address.port}`;

  const call: Harness['call'] = (method, path, { as = 'alice', body, headers = {} } = {}) =>
    fetch(url + path, {
      method,
      headers: {
        ...(as ? { authorization: `Bearer ${TOKENS[as]}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  const jsonOf = async (res: Response) => ({ status: res.status, json: (await res.json()) as Record<string, unknown> });
  return {
    url,
    store,
    upstream,
    setUpstreamReply: (reply) => void (upstreamReply = () => reply),
    setUpstreamReplyFor: (reply) => void (upstreamReply = reply),
    async seed(raw = newsletter(), overrides = {}) {
      const record = heldRecord(raw, overrides);
      await store.put(record, [raw]);
      return record;
    },
    call,
    post: async (who, path, body = {}) => jsonOf(await call('POST', path, { as: who, body })),
    get: async (who, path) => jsonOf(await call('GET', path, { as: who })),
  };
}

async function statusOf(h: Harness, id: string): Promise<RecordStatus | undefined> {
  return (await h.store.get(id))?.status;
}
async function historyOf(h: Harness, id: string): Promise<readonly HistoryEntry[]> {
  return (await h.store.get(id))?.history ?? [];
}

describe('tokens and roles', () => {
  it('answers 401 with a Bearer challenge without a token, with an unknown token and with a malformed header', async () => {
    const h = await startApi();
    const record = await h.seed();
    const none = await h.call('GET', '/api/messages', { as: null });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="mail-guard"$/);
    expect(await none.json()).toEqual({ error: expect.stringContaining('Bearer') });

    const wrong = await h.call('GET', `/api/messages/${record.id}`, { as: null, headers: { authorization: 'Bearer not-a-token' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const basic = await h.call('POST', `/api/messages/${record.id}/approve`, { as: null, body: {}, headers: { authorization: `Basic ${TOKENS.alice}` } });
    expect(basic.status).toBe(401);
    expect(await statusOf(h, record.id)).toBe('held');
  });

  it('lets a reviewer list, show, preview, download, approve and discard', async () => {
    const h = await startApi();
    const raw = newsletter();
    const first = await h.seed(raw);
    const second = await h.seed(raw);

    const list = await h.get('alice', '/api/messages?status=held&limit=1');
    expect(list.status).toBe(200);
    expect((list.json['records'] as MessageRecord[]).map((r) => r.id)).toEqual([second.id]);
    const next = await h.get('alice', `/api/messages?status=held&limit=1&cursor=${list.json['nextCursor'] as string}`);
    expect((next.json['records'] as MessageRecord[]).map((r) => r.id)).toEqual([first.id]);

    const shown = await h.get('alice', `/api/messages/${first.id}`);
    expect(shown.status).toBe(200);
    expect(shown.json).toMatchObject({ id: first.id, status: 'held', subject: 'Members newsletter, November' });

    const preview = await h.get('alice', `/api/messages/${first.id}/preview`);
    expect(preview.status).toBe(200);
    expect(preview.json).toMatchObject({ subject: 'Members newsletter, November', to: RECIPIENTS, truncated: false, attachments: [] });
    expect(preview.json['text']).toContain('Dear members');

    const eml = await h.call('GET', `/api/messages/${first.id}/raw`);
    expect(eml.status).toBe(200);
    expect(eml.headers.get('content-type')).toBe('message/rfc822');
    expect(eml.headers.get('content-disposition')).toBe(`attachment; filename="${first.id}.eml"`);
    expect(eml.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await eml.arrayBuffer()).equals(raw)).toBe(true);

    const approved = await h.post('alice', `/api/messages/${first.id}/approve`, { reason: 'list owner confirmed' });
    expect(approved.status).toBe(200);
    expect(await statusOf(h, first.id)).toBe('approved');
    const discarded = await h.post('alice', `/api/messages/${second.id}/discard`, { reason: 'sent by mistake' });
    expect(discarded.status).toBe(200);
    expect(await statusOf(h, second.id)).toBe('discarded');

    const history = await historyOf(h, first.id);
    expect(history.filter((e) => e.action === 'view-raw')).toEqual([{ at: expect.any(String), actor: 'alice', action: 'view-raw', note: null }]);
    expect(history.at(-1)).toMatchObject({ actor: 'alice', action: 'approve', note: 'list owner confirmed' });
    expect((await historyOf(h, second.id)).at(-1)).toMatchObject({ actor: 'alice', action: 'discard', note: 'sent by mistake' });
    expect(h.upstream.transactions).toBe(0);
  });

  it('refuses release as original to a reviewer (403), also after another person approved', async () => {
    const h = await startApi();
    const record = await h.seed();
    await h.post('alice', `/api/messages/${record.id}/approve`);
    const res = await h.post('bob', `/api/messages/${record.id}/release`, { as: 'original' });
    expect(res.status).toBe(403);
    expect(res.json['error']).toMatch(/approver role/);
    expect(await statusOf(h, record.id)).toBe('approved');
    expect(h.upstream.transactions).toBe(0);
  });
});

describe('four-eyes release', () => {
  it('refuses a release before any approval (409, needs an approval first)', async () => {
    const h = await startApi();
    const record = await h.seed();
    const res = await h.post('carol', `/api/messages/${record.id}/release`, { as: 'bcc' });
    expect(res.status).toBe(409);
    expect(res.json['error']).toMatch(/needs an approval by another person first/);
    expect(h.upstream.transactions).toBe(0);
  });

  it('refuses the approver releasing it too (403), lets a second person release as bcc: one transaction, To replaced', async () => {
    const h = await startApi();
    const raw = newsletter();
    const record = await h.seed(raw);
    expect((await h.post('alice', `/api/messages/${record.id}/approve`, { reason: 'ok by marketing' })).status).toBe(200);

    const self = await h.post('alice', `/api/messages/${record.id}/release`, { as: 'bcc' });
    expect(self.status).toBe(403);
    expect(self.json['error']).toMatch(/four-eyes/);
    expect(h.upstream.transactions).toBe(0);

    const res = await h.post('bob', `/api/messages/${record.id}/release`, { as: 'bcc', reason: 'hide the list' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ id: record.id, status: 'released', as: 'bcc', upstreamReply: '250 2.0.0 Ok: queued as R1' });
    expect(h.upstream.transactions).toBe(1);
    const sent = h.upstream.messages[0]!;
    expect(sent.mailFrom).toBe('news@example.co.jp');
    expect(sent.rcptTo).toEqual(RECIPIENTS);
    expect(sent.raw.toString('utf8')).toBe(raw.toString('utf8').replace(TO_LINE, 'To: undisclosed-recipients:;'));

    const history = await historyOf(h, record.id);
    expect(history.map((e) => [e.actor, e.action])).toEqual([
      ['mail-guard', 'held'],
      ['alice', 'approve'],
      ['bob', 'release'],
    ]);
    expect(history[2]).toMatchObject({ note: expect.stringMatching(/^as bcc: .*hide the list$/), upstreamReply: '250 2.0.0 Ok: queued as R1' });
  });

  it('releases as split: one transaction per recipient, each showing only its own address', async () => {
    const h = await startApi();
    const raw = newsletter();
    const record = await h.seed(raw);
    await h.post('alice', `/api/messages/${record.id}/approve`);
    const res = await h.post('bob', `/api/messages/${record.id}/release`, { as: 'split' });
    expect(res.status).toBe(200);
    expect(h.upstream.transactions).toBe(3);
    const byRecipient = new Map(h.upstream.messages.map((m) => [m.rcptTo.join(','), m.raw.toString('utf8')]));
    for (const r of RECIPIENTS) expect(byRecipient.get(r)).toBe(raw.toString('utf8').replace(TO_LINE, `To: <${r}>`));
    expect((await historyOf(h, record.id)).at(-1)?.upstreamReply).toMatch(/^250 2\.0\.0 Ok: queued as R\d; 250 .*; 250 /);
  });

  it('releases as split only copies that name nobody else: a Reply-To listing the members is dropped; a From listing them refuses the release (409)', async () => {
    const h = await startApi();
    const withReplyTo = Buffer.from(
      newsletter()
        .toString('utf8')
        .replace(TO_LINE, `${TO_LINE}\r\nReply-To: ${RECIPIENTS.join(', ')}`),
    );
    const ok = await h.seed(withReplyTo);
    await h.post('alice', `/api/messages/${ok.id}/approve`);
    expect((await h.post('bob', `/api/messages/${ok.id}/release`, { as: 'split' })).status).toBe(200);
    expect(h.upstream.transactions).toBe(3);
    for (const m of h.upstream.messages) expect(m.raw.toString('utf8')).not.toMatch(/^Reply-To:/m);

    const fromLists = Buffer.from(
      newsletter()
        .toString('utf8')
        .replace('From: Newsletter <news@example.co.jp>', `From: ${RECIPIENTS.join(', ')}`),
    );
    const unsafe = await h.seed(fromLists);
    await h.post('alice', `/api/messages/${unsafe.id}/approve`);
    const refused = await h.post('bob', `/api/messages/${unsafe.id}/release`, { as: 'split' });
    expect(refused.status).toBe(409);
    expect(refused.json['error']).toMatch(
      /^not sent as split: a split copy would still show 2 other external recipient\(s\) in From; an approver may release it as original, or discard it$/,
    );
    expect(h.upstream.transactions).toBe(3);
    // Nothing went out and the record can still be decided.
    expect((await h.get('bob', `/api/messages/${unsafe.id}`)).json['status']).toBe('approved');
  });

  it('lets an approver release as original after a reviewer approved: the bytes go out unchanged', async () => {
    const h = await startApi();
    const raw = newsletter();
    const record = await h.seed(raw);
    await h.post('alice', `/api/messages/${record.id}/approve`);
    const res = await h.post('carol', `/api/messages/${record.id}/release`, { as: 'original' });
    expect(res.status).toBe(200);
    expect(h.upstream.messages).toHaveLength(1);
    expect(h.upstream.messages[0]!.raw.equals(raw)).toBe(true);
  });

  it('releases once when two releases race: one 200, one 409, one upstream transaction', async () => {
    const h = await startApi();
    const record = await h.seed();
    await h.post('alice', `/api/messages/${record.id}/approve`);
    const results = await Promise.all([
      h.post('bob', `/api/messages/${record.id}/release`, { as: 'bcc' }),
      h.post('carol', `/api/messages/${record.id}/release`, { as: 'bcc' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(h.upstream.transactions).toBe(1);
    expect((await historyOf(h, record.id)).filter((e) => e.action === 'release')).toHaveLength(1);
  });

  it('refuses releasing a discarded or already released message (409)', async () => {
    const h = await startApi();
    const discarded = await h.seed();
    await h.post('alice', `/api/messages/${discarded.id}/approve`);
    await h.post('alice', `/api/messages/${discarded.id}/discard`, { reason: 'duplicate run' });
    const res = await h.post('bob', `/api/messages/${discarded.id}/release`, { as: 'bcc' });
    expect(res.status).toBe(409);
    expect(res.json['error']).toMatch(/discarded/);

    const released = await h.seed();
    await h.post('alice', `/api/messages/${released.id}/approve`);
    expect((await h.post('bob', `/api/messages/${released.id}/release`, { as: 'bcc' })).status).toBe(200);
    expect((await h.post('carol', `/api/messages/${released.id}/release`, { as: 'bcc' })).status).toBe(409);
    expect((await h.post('carol', `/api/messages/${released.id}/discard`, { reason: 'too late' })).status).toBe(409);
    expect(h.upstream.transactions).toBe(1);
  });

  it('answers 502 with the upstream reply when the upstream refuses; the record stays approved and can be released again', async () => {
    const h = await startApi();
    const record = await h.seed();
    await h.post('alice', `/api/messages/${record.id}/approve`);
    h.setUpstreamReply({ code: 550, message: '5.7.1 no' });
    const refused = await h.post('bob', `/api/messages/${record.id}/release`, { as: 'bcc' });
    expect(refused.status).toBe(502);
    expect(refused.json).toMatchObject({ upstreamReply: expect.stringContaining('550 5.7.1 no'), releasable: true });
    expect(await statusOf(h, record.id)).toBe('approved');
    expect((await historyOf(h, record.id)).at(-1)).toMatchObject({
      actor: 'bob',
      action: 'release-failed',
      upstreamReply: expect.stringContaining('550 5.7.1 no'),
    });

    h.setUpstreamReply(undefined);
    const again = await h.post('bob', `/api/messages/${record.id}/release`, { as: 'bcc' });
    expect(again.status).toBe(200);
    expect(h.upstream.messages).toHaveLength(1);
    expect(await statusOf(h, record.id)).toBe('released');
  });

  it('after a split that some copies missed temporarily, a second release sends only the missing copies', async () => {
    const h = await startApi();
    const record = await h.seed();
    await h.post('alice', `/api/messages/${record.id}/approve`);
    let busy = true;
    const upstreamBusyFor = RECIPIENTS[1]!;
    // The copy to one recipient is deferred on the first attempt only.
    h.setUpstreamReplyFor((tx) => (busy && tx.rcptTo.includes(upstreamBusyFor) ? { code: 451, message: '4.2.0 mailbox busy' } : undefined));
    const first = await h.post('bob', `/api/messages/${record.id}/release`, { as: 'split' });
    expect(first.status).toBe(502);
    expect(first.json['error']).toMatch(/2 of 3 copies accepted upstream; release again to send only the rest/);
    expect(first.json['upstreamReply']).toContain('451 4.2.0 mailbox busy');
    expect(await statusOf(h, record.id)).toBe('approved');
    expect(h.upstream.messages.map((m) => m.rcptTo[0]).sort()).toEqual([RECIPIENTS[0], RECIPIENTS[2]].sort());

    busy = false;
    const second = await h.post('bob', `/api/messages/${record.id}/release`, { as: 'split' });
    expect(second.status).toBe(200);
    expect(h.upstream.messages).toHaveLength(3);
    expect(h.upstream.messages[2]!.rcptTo).toEqual([upstreamBusyFor]);
    expect((await historyOf(h, record.id)).map((e) => e.action)).toEqual(['held', 'approve', 'release-failed', 'release']);
  });

  it('refuses every release in rehearsal mode (no upstream): 409', async () => {
    const h = await startApi({ rehearsal: true });
    const record = await h.seed();
    await h.post('alice', `/api/messages/${record.id}/approve`);
    const res = await h.post('bob', `/api/messages/${record.id}/release`, { as: 'bcc' });
    expect(res.status).toBe(409);
    expect(res.json['error']).toMatch(/no upstream configured/);
    expect(await statusOf(h, record.id)).toBe('approved');
  });

  it('without four-eyes lets a reviewer release a held message directly', async () => {
    const h = await startApi({ fourEyes: false });
    const record = await h.seed();
    const res = await h.post('alice', `/api/messages/${record.id}/release`, { as: 'bcc' });
    expect(res.status).toBe(200);
    expect(h.upstream.transactions).toBe(1);
  });
});

describe('bad requests and cross-site requests', () => {
  it('refuses POSTs that are not JSON (415) and requests from a foreign origin (403)', async () => {
    const h = await startApi();
    const record = await h.seed();
    const form = await h.call('POST', `/api/messages/${record.id}/discard`, { body: 'reason=x', headers: { 'content-type': 'text/plain' } });
    expect(form.status).toBe(415);
    expect(await form.json()).toEqual({ error: expect.stringContaining('application/json') });
    const urlencoded = await h.call('POST', `/api/messages/${record.id}/approve`, {
      body: 'a=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(urlencoded.status).toBe(415);

    const foreign = await h.call('POST', `/api/messages/${record.id}/discard`, { body: { reason: 'x' }, headers: { origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    const foreignGet = await h.call('GET', `/api/messages/${record.id}/raw`, { headers: { origin: 'https://evil.example' } });
    expect(foreignGet.status).toBe(403);
    const crossSite = await h.call('GET', '/api/messages', { headers: { 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    expect(await statusOf(h, record.id)).toBe('held');
    expect(await historyOf(h, record.id)).toHaveLength(1); // the refused raw view was not served, so not audited

    const own = await h.call('POST', `/api/messages/${record.id}/approve`, { body: {}, headers: { origin: h.url } });
    expect(own.status).toBe(200);
  });

  it('names the problem: unknown id 404, bad list parameters 400, missing "as" or reason 400, bad JSON 400, large body 413', async () => {
    const h = await startApi();
    const record = await h.seed();
    expect((await h.get('alice', `/api/messages/${newMessageId()}`)).status).toBe(404);
    expect((await h.get('alice', '/api/messages/..%2F..%2Fetc%2Fpasswd/raw')).status).toBe(404);
    expect(await h.get('alice', '/api/nothing-here')).toEqual({ status: 404, json: { error: 'no API endpoint GET /api/nothing-here' } });
    expect((await h.call('GET', '/healthz', { as: null })).status).toBe(200);
    for (const query of ['limit=0', 'limit=501', 'limit=abc', 'status=lost', 'cursor=zz']) {
      const res = await h.get('alice', `/api/messages?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.json['error'], query).toEqual(expect.any(String));
    }
    const noAs = await h.post('carol', `/api/messages/${record.id}/release`, {});
    expect(noAs.status).toBe(400);
    expect(noAs.json['error']).toMatch(/"as"/);
    expect((await h.post('carol', `/api/messages/${record.id}/release`, { as: 'cc' })).status).toBe(400);
    expect((await h.post('alice', `/api/messages/${record.id}/discard`, {})).status).toBe(400);
    expect((await h.post('alice', `/api/messages/${record.id}/approve`, { reson: 'typo' })).status).toBe(400);
    const badJson = await h.call('POST', `/api/messages/${record.id}/approve`, { body: '{"reason": ' });
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toEqual({ error: expect.stringContaining('not valid JSON') });
    const large = await h.call('POST', `/api/messages/${record.id}/approve`, { body: { reason: 'x'.repeat(70_000) } });
    expect(large.status).toBe(413);
    expect(await statusOf(h, record.id)).toBe('held');
  });
});

describe('message filters', () => {
  it('filters by action, rule, violation, sender and free text (NFKC), newest first with a cursor, and says how much it read', async () => {
    const h = await startApi();
    const verdict = (action: string, rule: string, violation: boolean) => ({ action, rule, violation, reason: `${action} (${rule})` });
    const held = await h.seed();
    const split = await h.seed(newsletter('春のキャンペーン'), {
      subject: '春のキャンペーン',
      verdict: verdict('split', 'newsletter', true),
      status: 'captured',
    });
    const passed = await h.seed(newsletter('Invoice'), {
      subject: 'Invoice',
      verdict: verdict('pass', 'default', false),
      envelope: { mailFrom: 'Billing@Example.co.jp', rcptTo: RECIPIENTS },
      status: 'captured',
    });
    const split2 = await h.seed(newsletter('Spring sale'), { subject: 'Spring sale', verdict: verdict('split', 'newsletter', true), status: 'captured' });
    const ids = async (query: string) => {
      const res = await h.get('alice', `/api/messages?${query}`);
      expect(res.status, query).toBe(200);
      return (res.json['records'] as MessageRecord[]).map((r) => r.id);
    };
    expect(await ids('action=split')).toEqual([split2.id, split.id]);
    expect(await ids('rule=newsletter&status=captured')).toEqual([split2.id, split.id]);
    expect(await ids('violation=false')).toEqual([passed.id]);
    expect(await ids('violation=true&action=quarantine')).toEqual([held.id]);
    expect(await ids('sender=billing%40example.CO.JP')).toEqual([passed.id]);
    expect(await ids('sender=billing')).toEqual([]);
    // Full-width Latin typed by an IME, half-width katakana: both find the usual forms.
    expect(await ids(`q=${encodeURIComponent('ＳＰＲＩＮＧ')}`)).toEqual([split2.id]);
    expect(await ids(`q=${encodeURIComponent('ｷｬﾝﾍﾟｰﾝ')}`)).toEqual([split.id]);
    expect(await ids(`q=${encodeURIComponent('  invoice ')}`)).toEqual([passed.id]);
    // An empty value is "any", as a filter form sends it.
    expect(await ids('status=&action=&rule=&violation=&sender=&q=')).toEqual([split2.id, passed.id, split.id, held.id]);

    const first = await h.get('alice', '/api/messages?action=split&limit=1');
    expect(first.json).toMatchObject({ records: [{ id: split2.id }], nextCursor: expect.any(String), scanned: 1 });
    const second = await h.get('alice', `/api/messages?action=split&limit=1&cursor=${encodeURIComponent(first.json['nextCursor'] as string)}`);
    expect(second.json).toMatchObject({ records: [{ id: split.id }], scanned: 2 });
    const third = await h.get('alice', `/api/messages?action=split&limit=1&cursor=${encodeURIComponent(second.json['nextCursor'] as string)}`);
    expect(third.json).toEqual({ records: [], nextCursor: null, scanned: 1 });
  });

  it('refuses a bad filter with a 400 that names the parameter', async () => {
    const h = await startApi();
    const cases: Array<[string, RegExp]> = [
      ['action=hold', /^action must be one of pass, monitor, bcc, split, quarantine, reject/],
      ['violation=yes', /^violation must be true or false/],
      ['action=split&action=pass', /^give action once/],
      [`q=${'x'.repeat(201)}`, /^q is longer than 200 characters/],
      ['sender=a%0Ab%40example.com', /^sender must be an envelope sender address without control characters/],
      ['verdict=split', /^unknown query parameter "verdict"; use status, action, rule, violation, sender, q, limit or cursor/],
    ];
    for (const [query, error] of cases) {
      const res = await h.get('alice', `/api/messages?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.json['error'], query).toMatch(error);
    }
  });
});

describe('overview and report', () => {
  it('GET /api/overview: statuses, verdicts by UTC day, the oldest held message, the latest held campaigns', async () => {
    const h = await startApi();
    const hourAgo = Date.now() - 3_600_000;
    const oldest = await h.seed(newsletter(), { id: newMessageId(hourAgo), receivedAt: new Date(hourAgo).toISOString() });
    await h.seed(newsletter('Board minutes'), { subject: 'Board minutes' });
    await h.seed(newsletter(), { status: 'released' });
    expect((await h.call('GET', '/api/overview', { as: null })).status).toBe(401);
    const { status, json } = await h.get('alice', '/api/overview');
    expect(status).toBe(200);
    expect(json).toMatchObject({
      rehearsal: false,
      statuses: { held: 2, approved: 0, released: 1, discarded: 0, captured: 0, failed: 0 },
      verdicts: { last7Days: { messages: 3, verdicts: { quarantine: 3, pass: 0 } }, complete: false, truncated: false },
      oldestHeld: { id: oldest.id, receivedAt: oldest.receivedAt, sender: 'news@example.co.jp', subject: 'Members newsletter, November' },
    });
    const verdicts = json['verdicts'] as { today: { since: string }; last7Days: { since: string } };
    expect(verdicts.today.since).toMatch(/^\d{4}-\d\d-\d\dT00:00:00\.000Z$/);
    expect(Date.parse(verdicts.today.since) - Date.parse(verdicts.last7Days.since)).toBe(6 * 86_400_000);
    expect((json['oldestHeld'] as { ageSeconds: number }).ageSeconds).toBeGreaterThanOrEqual(3600);
    expect((json['latestHeldCampaigns'] as Array<{ subject: string }>).map((c) => c.subject)).toEqual(['Board minutes', 'Members newsletter, November']);
    const unknown = await h.get('alice', '/api/overview?days=3');
    expect(unknown).toEqual({ status: 400, json: { error: 'unknown query parameter "days"; GET /api/overview takes none' } });
  });

  it('GET /api/report: per campaign verdict counts and reasons; complete in rehearsal mode, since as ISO time or date', async () => {
    const h = await startApi({ rehearsal: true });
    const captured = (action: string, reason: string, at = Date.now()) => ({
      id: newMessageId(at),
      receivedAt: new Date(at).toISOString(),
      status: 'captured' as const,
      verdict: { action, rule: 'default', violation: action !== 'pass', reason },
    });
    const dayAgo = Date.now() - 86_400_000;
    await h.seed(newsletter(), captured('split', '3 exposed', dayAgo));
    await h.seed(newsletter(), captured('split', '3 exposed'));
    await h.seed(newsletter(), captured('pass', 'within limits'));
    const { status, json } = await h.get('alice', '/api/report');
    expect(status).toBe(200);
    expect(json).toMatchObject({ mode: 'rehearsal', complete: true, truncated: false, since: null, scanned: 3, totals: { messages: 3 } });
    expect(json['campaigns']).toEqual([
      expect.objectContaining({
        sender: 'news@example.co.jp',
        subject: 'Members newsletter, November',
        messages: 3,
        verdicts: { pass: 1, monitor: 0, bcc: 0, split: 2, quarantine: 0, reject: 0 },
        reasons: [
          { action: 'split', reason: '3 exposed', count: 2 },
          { action: 'pass', reason: 'within limits', count: 1 },
        ],
      }),
    ]);
    const sinceIso = new Date(dayAgo + 1000).toISOString();
    const recent = await h.get('alice', `/api/report?since=${encodeURIComponent(sinceIso)}`);
    expect(recent.json).toMatchObject({ since: sinceIso, totals: { messages: 2, verdicts: { split: 1, pass: 1 } } });
    const tokyo = await h.get('alice', `/api/report?since=${encodeURIComponent('2026-11-29T09:00:00+09:00')}`);
    expect(tokyo.json['since']).toBe('2026-11-29T00:00:00.000Z');
    const date = await h.get('alice', '/api/report?since=2026-11-29');
    expect(date.json['since']).toBe('2026-11-29T00:00:00.000Z');
    for (const bad of ['since=yesterday', 'since=2026-11-29T09:00:00', 'since=2026-13-01', 'from=2026-11-29']) {
      const res = await h.get('alice', `/api/report?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.json['error'], bad).toMatch(/since/);
    }
  });

  it('GET /api/report in live mode says it is not complete: only what the store kept is known', async () => {
    const h = await startApi();
    await h.seed();
    const { json } = await h.get('alice', '/api/report');
    expect(json).toMatchObject({ mode: 'live', complete: false, totals: { messages: 1, verdicts: { quarantine: 1 } } });
  });
});

describe('store outage', () => {
  it('answers 503 with a JSON error when the store cannot be reached', async () => {
    const h = await startApi();
    const record = await h.seed();
    await h.store.close();
    const list = await h.get('alice', '/api/messages');
    expect(list.status).toBe(503);
    expect(list.json).toEqual({ error: expect.stringMatching(/store is not reachable/) });
    expect((await h.post('alice', `/api/messages/${record.id}/approve`)).status).toBe(503);
    expect((await h.call('GET', `/api/messages/${record.id}/raw`)).status).toBe(503);
  });
});

describe('preview', () => {
  it('returns text only for an HTML message with scripts; markup in subject and filenames stays a plain string', async () => {
    const h = await startApi();
    const raw = Buffer.from(
      crlf(
        'From: "<img src=x onerror=alert(1)>" <news@example.co.jp>',
        TO_LINE,
        'Subject: <script>alert("subject")</script> Sale',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b1"',
        '',
        '--b1',
        'Content-Type: text/html; charset=utf-8',
        '',
        '<html><head><script>steal(document.cookie)</script><meta http-equiv="refresh" content="0;url=https://evil.example/"><base href="https://evil.example/"></head>',
        '<body onload="alert(1)"><p>Big <b>sale</b> today</p><a href="javascript:alert(1)">click</a><img src="https://evil.example/pixel.png"><script>alert(2)</script></body></html>',
        '--b1',
        'Content-Type: application/pdf; name="<b>price list</b>.pdf"',
        'Content-Disposition: attachment; filename="<b>price list</b>.pdf"',
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.from('%PDF-1.4 fake').toString('base64'),
        '--b1--',
        '',
      ),
    );
    const record = await h.seed(raw);
    const res = await h.call('GET', `/api/messages/${record.id}/preview`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const preview = (await res.json()) as Record<string, unknown>;
    expect(preview['text']).toContain('Big sale today');
    expect(preview['text']).not.toContain('<script');
    expect(preview['text']).not.toContain('steal(');
    expect(preview['text']).not.toContain('<p>');
    expect(preview).not.toHaveProperty('html');
    expect(preview['subject']).toBe('<script>alert("subject")</script> Sale');
    expect(preview['attachments']).toEqual([{ filename: '<b>price list</b>.pdf', contentType: 'application/pdf', size: 13 }]);
  });
});

describe('preview of content with address lists', () => {
  const inner = members(50);

  it("masks a forwarded newsletter's inner To list, a pasted list and an address in a filename", async () => {
    const h = await startApi();
    // The inline forward is what mailparser prints into `text`; the attached one it lists as an attachment.
    for (const raw of [forwardedNewsletter(inner, 'inline'), forwardedNewsletter(inner, 'attachment')]) {
      const record = await h.seed(raw);
      const body = await (await h.call('GET', `/api/messages/${record.id}/preview`)).text();
      for (const address of inner) expect(body).not.toContain(address);
      expect(body).not.toMatch(/member\d+@/);
    }
    const inline = await h.get('alice', `/api/messages/${(await h.seed(forwardedNewsletter(inner, 'inline'))).id}/preview`);
    // The inner header block is there, masked as the record masks addresses.
    expect(inline.json['text']).toContain('m***@m***.example');
    expect(inline.json['text']).toContain('Dear members');

    const pasted = Buffer.from(
      crlf(
        'From: alice@example.co.jp',
        'To: partner@partner.example',
        'Subject: list',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b1"',
        '',
        '--b1',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Members: one@list.example, two\uff20list.example; <three@list.example>',
        '--b1',
        'Content-Type: text/csv; name="export-for-four@list.example.csv"',
        'Content-Disposition: attachment; filename="export-for-four@list.example.csv"',
        '',
        'x',
        '--b1--',
        '',
      ),
      'utf8',
    );
    const preview = await h.get('alice', `/api/messages/${(await h.seed(pasted)).id}/preview`);
    const json = JSON.stringify(preview.json);
    for (const local of ['one@', 'two\uff20', 'two@', 'three@', 'four@']) expect(json).not.toContain(local);
    expect(preview.json['text']).toBe('Members: o***@l***.example, t***@l***.example; <t***@l***.example>');
    expect(preview.json['attachments']).toEqual([{ filename: 'e***@l***.csv', contentType: 'text/csv', size: 1 }]);
  });

  it('shows the addresses with log.showAddresses', async () => {
    const h = await startApi({ mask: makeAddressMasker(true) });
    const preview = await h.get('alice', `/api/messages/${(await h.seed(forwardedNewsletter(inner, 'inline'))).id}/preview`);
    expect(preview.json['text']).toContain(inner[49]);
  });
});

describe('campaigns', () => {
  it('groups undecided mail by sender and subject, and discards a whole campaign with per-record results', async () => {
    const h = await startApi();
    const november = [
      await h.seed(),
      await h.seed(),
      await h.seed(newsletter(), { analysis: { ...heldRecord(newsletter()).analysis!, exposedExternalCount: 7 } }),
    ];
    const other = await h.seed(newsletter('Board minutes'), { subject: 'Board minutes', envelope: { mailFrom: 'board@example.co.jp', rcptTo: RECIPIENTS } });
    const done = await h.seed(newsletter(), { status: 'released' });

    const listed = await h.get('alice', '/api/campaigns');
    expect(listed.status).toBe(200);
    const campaigns = listed.json['campaigns'] as Array<Record<string, unknown>>;
    expect(campaigns).toHaveLength(2);
    const nov = campaigns.find((c) => c['subject'] === 'Members newsletter, November')!;
    expect(nov).toMatchObject({ sender: 'news@example.co.jp', count: 3, statuses: { held: 3 }, worstExposure: 7, newestId: november[2]!.id });
    expect(nov).toMatchObject({ verdicts: { quarantine: 3 }, approvers: [] });
    expect(nov['key']).toMatch(/^[0-9a-f]{24}$/);
    expect((await h.get('bob', '/api/campaigns')).json['campaigns']).toEqual(campaigns); // stable keys

    await h.post('alice', `/api/messages/${november[0]!.id}/approve`);
    const regrouped = (await h.get('alice', '/api/campaigns')).json['campaigns'] as Array<Record<string, unknown>>;
    expect(regrouped.find((c) => c['key'] === nov['key'])).toMatchObject({
      count: 3,
      statuses: { held: 2, approved: 1 },
      approvers: [{ name: 'alice', count: 1 }],
    });

    expect((await h.post('bob', `/api/campaigns/${nov['key'] as string}/discard`, {})).status).toBe(400);
    const discarded = await h.post('bob', `/api/campaigns/${nov['key'] as string}/discard`, { reason: 'wrong list' });
    expect(discarded.status).toBe(200);
    expect(discarded.json).toMatchObject({ count: 3, succeeded: 3, failed: 0 });
    expect((discarded.json['results'] as Array<{ id: string; status: number }>).map((r) => [r.id, r.status])).toEqual(november.map((r) => [r.id, 200]));
    for (const r of november) {
      expect(await statusOf(h, r.id)).toBe('discarded');
      expect((await historyOf(h, r.id)).at(-1)).toMatchObject({ actor: 'bob', action: 'discard', note: 'wrong list' });
    }
    expect(await statusOf(h, other.id)).toBe('held');
    expect(await statusOf(h, done.id)).toBe('released');
    expect((await h.post('bob', `/api/campaigns/${nov['key'] as string}/discard`, { reason: 'again' })).status).toBe(404);
  });

  it('counts verdicts per campaign and names who approved what (four-eyes), most approvals first', async () => {
    const h = await startApi();
    const verdict = (action: string) => ({ action, rule: 'newsletter', violation: action !== 'pass', reason: action });
    const records = [
      await h.seed(newsletter(), { verdict: verdict('split'), status: 'captured' }),
      await h.seed(newsletter(), { verdict: verdict('split'), status: 'captured' }),
      await h.seed(newsletter(), { verdict: verdict('pass'), status: 'captured' }),
      await h.seed(newsletter(), { verdict: null }),
      await h.seed(),
      await h.seed(),
      await h.seed(),
    ];
    await h.post('bob', `/api/messages/${records[4]!.id}/approve`);
    await h.post('alice', `/api/messages/${records[5]!.id}/approve`);
    await h.post('bob', `/api/messages/${records[6]!.id}/approve`);
    const [campaign] = (await h.get('carol', '/api/campaigns')).json['campaigns'] as Array<Record<string, unknown>>;
    expect(campaign).toMatchObject({
      count: 7,
      statuses: { captured: 3, held: 1, approved: 3 },
      verdicts: { split: 2, pass: 1, none: 1, quarantine: 3 },
      approvers: [
        { name: 'bob', count: 2 },
        { name: 'alice', count: 1 },
      ],
    });
  });

  it('releases an approved campaign with four-eyes: one transaction per record, each record released once', async () => {
    const h = await startApi();
    const records = [await h.seed(), await h.seed()];
    const key = ((await h.get('alice', '/api/campaigns')).json['campaigns'] as Array<{ key: string }>)[0]!.key;
    expect((await h.post('alice', `/api/campaigns/${key}/release`, { as: 'original' })).status).toBe(403);
    const early = await h.post('bob', `/api/campaigns/${key}/release`, { as: 'bcc' });
    expect(early.json).toMatchObject({ succeeded: 0, failed: 2 });
    expect((early.json['results'] as Array<{ status: number }>).map((r) => r.status)).toEqual([409, 409]);

    expect((await h.post('alice', `/api/campaigns/${key}/approve`, {})).json).toMatchObject({ succeeded: 2 });
    const self = await h.post('alice', `/api/campaigns/${key}/release`, { as: 'bcc' });
    expect((self.json['results'] as Array<{ status: number }>).map((r) => r.status)).toEqual([403, 403]);
    const released = await h.post('bob', `/api/campaigns/${key}/release`, { as: 'bcc' });
    expect(released.json).toMatchObject({ succeeded: 2, failed: 0 });
    expect(h.upstream.transactions).toBe(2);
    for (const r of records) expect(await statusOf(h, r.id)).toBe('released');
  });
});

describe('a bulk action that fails on the way', () => {
  it('stops at the first upstream failure: that record 502, the rest 424 not attempted, every record left as it was', async () => {
    const h = await startApi({ fourEyes: false });
    const records = [await h.seed(), await h.seed(), await h.seed()];
    const { json } = await h.get('alice', '/api/campaigns');
    const key = (json['campaigns'] as { key: string }[])[0]!.key;
    h.setUpstreamReply({ code: 451, message: '4.3.0 try again later' });
    const run = await h.post('alice', `/api/campaigns/${key}/release`, { as: 'bcc' });
    expect(run.status).toBe(200);
    expect(run.json).toMatchObject({ count: 3, succeeded: 0, failed: 3 });
    const results = run.json['results'] as { id: string; status: number; error: string }[];
    expect(results.map((r) => r.status)).toEqual([502, 424, 424]);
    expect(results[1]!.error).toMatch(/^not attempted: an earlier message failed with 502: /);
    for (const r of records) expect(await statusOf(h, r.id)).toBe('held');
    // One upstream attempt, not three.
    expect(h.upstream.transactions).toBe(1);
  });
});
