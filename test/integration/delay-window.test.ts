// The delay window (policy.delaySeconds) through a running mail-guard: SMTP in,
// `250 queued, leaves at <time>`, nothing at the recording upstream before that
// time, exactly one copy after it; discards inside the window stop it for good;
// a restart or a second instance on one Redis does not send it twice; a claim
// whose holder died is shown to an operator and not re-sent until they say so.
import { createHash } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openFileStore } from '../../src/store/file-store.js';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream, type RecordedMessage, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { sendOnce, TestSmtpClient } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';
import { within } from '../helpers/within.js';

const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
const TOKENS = { alice: 'alice-token-0123456789', bob: 'bob-token-0123456789' };
const adminConfig = {
  tokens: [
    { name: 'alice', tokenSha256: sha256(TOKENS.alice), role: 'reviewer' },
    { name: 'bob', tokenSha256: sha256(TOKENS.bob), role: 'approver' },
  ],
};
const WAIT_MS = 15_000;

const message = (subject: string, from = 'news@example.co.jp', to = 'a@ext1.com') =>
  crlf(`From: ${from}`, `To: ${to}`, `Subject: ${subject}`, `Message-ID: <${sha256(subject).slice(0, 12)}@example.co.jp>`, '', 'hello', '');
const subjectOf = (m: RecordedMessage) => /^Subject: (.*)$/m.exec(m.raw.toString('utf8'))?.[1];

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function relay(): Promise<RecordingUpstream> {
  const u = await startRecordingUpstream();
  cleanups.push(() => u.close());
  return u;
}

async function guardWith(
  port: number,
  options: { delaySeconds?: number; store?: Record<string, unknown>; storePath?: string } = {},
): Promise<RunningMailGuard> {
  const g = await startMailGuard(
    {
      upstream: { host: '127.0.0.1', port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      policy: { delaySeconds: options.delaySeconds ?? 1 },
      admin: adminConfig,
      store: options.store ?? {},
    },
    options.storePath,
  );
  cleanups.push(() => g.stop());
  return g;
}

/** Sends one clean message; returns its id and releaseAt from the `queued, leaves at` reply. */
async function queue(guard: RunningMailGuard, subject: string, from = 'news@example.co.jp'): Promise<{ id: string; releaseAt: string }> {
  const reply = (await sendOnce(guard.smtpPort, from, ['a@ext1.com'], message(subject, from))).final;
  const match = /^250 2\.0\.0 queued, leaves at (\S+) ([0-9A-Z]{26})$/.exec(reply);
  expect(match, reply).not.toBeNull();
  return { releaseAt: match![1]!, id: match![2]! };
}

async function api(guard: RunningMailGuard, who: keyof typeof TOKENS, method: string, path: string, body?: object) {
  const res = await fetch(`http://127.0.0.1:${guard.adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKENS[who]}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const arrivals = (upstream: RecordingUpstream, count: number) => within(upstream.waitForMessages(count), WAIT_MS, `${count} message(s) at the upstream`);

describe('delay window on the file store', () => {
  it('is not at the upstream before releaseAt and is there after it, once, with its ESMTP parameters', async () => {
    const upstream = await relay();
    const guard = await guardWith(upstream.port);
    const { client } = await TestSmtpClient.open(guard.smtpPort);
    await client.command('EHLO mailer.test');
    const sent = await client.send('news@example.co.jp', ['a@ext1.com'], message('Spring news'), {
      mail: 'RET=HDRS ENVID=spring-1',
      rcpt: { 'a@ext1.com': 'NOTIFY=FAILURE ORCPT=rfc822;a@ext1.com' },
    });
    await client.quit();
    const [, releaseAt, id] = /^250 2\.0\.0 queued, leaves at (\S+) ([0-9A-Z]{26})$/.exec(sent.final) ?? [];
    expect(id, sent.final).toBeDefined();
    expect(upstream.transactions).toBe(0);
    const during = await api(guard, 'alice', 'GET', `/api/messages/${id}`);
    expect(during.json).toMatchObject({ status: 'delayed', releaseAt });

    const [arrived] = await arrivals(upstream, 1);
    expect(arrived!.arrivedAt).toBeGreaterThanOrEqual(Date.parse(releaseAt!));
    expect(subjectOf(arrived!)).toBe('Spring news');
    expect(arrived!.mailParams).toMatchObject({ RET: 'HDRS', ENVID: 'spring-1' });
    expect(arrived!.rcptParams['a@ext1.com']).toMatchObject({ NOTIFY: 'FAILURE', ORCPT: 'rfc822;a@ext1.com' });

    const line = await within(
      guard.waitForLog((l) => l['event'] === 'delayed_departure' && l['id'] === id),
      WAIT_MS,
      'departure log line',
    );
    expect(line).toMatchObject({ action: 'pass', outcome: 'released' });
    expect(JSON.stringify(line)).not.toContain('ext1.com');
    const after = await api(guard, 'alice', 'GET', `/api/messages/${id}`);
    expect(after.json).toMatchObject({ status: 'released' });
    expect((after.json as { history: { actor: string; action: string }[] }).history.at(-1)).toMatchObject({ actor: 'mail-guard', action: 'release' });
    // A person cannot hurry it out, nor approve it: only discard it.
    const early = await queue(guard, 'Later news');
    expect(await api(guard, 'bob', 'POST', `/api/messages/${early.id}/release`, { as: 'bcc' })).toMatchObject({ status: 409 });
    expect(await api(guard, 'bob', 'POST', `/api/messages/${early.id}/approve`, {})).toMatchObject({ status: 409 });
    await arrivals(upstream, 2);
    expect(upstream.messages.map(subjectOf)).toEqual(['Spring news', 'Later news']);
    // Counted once the store recorded the release, just after the upstream's 250.
    await within(
      guard.waitForLog((l) => l['event'] === 'delayed_departure' && l['id'] === early.id),
      WAIT_MS,
      'second departure',
    );
    const metrics = await (await fetch(`http://127.0.0.1:${guard.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/^mailguard_delayed_departures_total\{result="released"\} 2$/m);
    expect(metrics).toMatch(/^mailguard_delayed_messages 0$/m);
    expect(metrics).toMatch(/^mailguard_release_claims_expired 0$/m);
  });

  it('never sends what was discarded inside the window: one message, a campaign, or everything from a sender', async () => {
    const upstream = await relay();
    const guard = await guardWith(upstream.port, { delaySeconds: 2 });
    const one = await queue(guard, 'Wrong attachment');
    const campaign = [await queue(guard, 'Wrong list'), await queue(guard, 'Wrong list')];
    const fromSender = [await queue(guard, 'Oops 1', 'promo@example.co.jp'), await queue(guard, 'Oops 2', 'PROMO@example.co.jp')];
    const metrics = await (await fetch(`http://127.0.0.1:${guard.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/^mailguard_delayed_messages 5$/m);

    expect(await api(guard, 'alice', 'POST', `/api/messages/${one.id}/discard`, { reason: 'wrong file' })).toMatchObject({
      status: 200,
      json: { status: 'discarded' },
    });
    const campaigns = (await api(guard, 'alice', 'GET', '/api/campaigns')).json['campaigns'] as { key: string; subject: string; statuses: object }[];
    const wrongList = campaigns.find((c) => c.subject === 'Wrong list');
    expect(wrongList?.statuses).toEqual({ delayed: 2 });
    const bulk = await api(guard, 'alice', 'POST', `/api/campaigns/${wrongList!.key}/discard`, { reason: 'wrong list' });
    expect(bulk).toMatchObject({ status: 200, json: { count: 2, succeeded: 2 } });
    expect(await api(guard, 'alice', 'POST', '/api/senders/discard', { sender: 'nobody@example.co.jp', reason: 'x' })).toMatchObject({ status: 404 });
    expect(await api(guard, 'alice', 'POST', '/api/senders/discard', { sender: 'promo@example.co.jp' })).toMatchObject({
      status: 400,
      json: { error: expect.stringMatching(/reason/) },
    });
    const bySender = await api(guard, 'alice', 'POST', '/api/senders/discard', { sender: 'promo@example.co.jp', reason: 'stop it all' });
    expect(bySender).toMatchObject({ status: 200, json: { count: 2, succeeded: 2, failed: 0, truncated: false } });
    expect((bySender.json['results'] as { id: string }[]).map((r) => r.id).sort()).toEqual(fromSender.map((m) => m.id).sort());

    // A later message leaves after all of them were due: the discarded ones never did.
    const marker = await queue(guard, 'Marker');
    const [arrived] = await arrivals(upstream, 1);
    expect(subjectOf(arrived!)).toBe('Marker');
    expect(arrived!.arrivedAt).toBeGreaterThanOrEqual(Date.parse(marker.releaseAt));
    expect(upstream.transactions).toBe(1);
    for (const { id } of [one, ...campaign, ...fromSender]) {
      const record = await api(guard, 'alice', 'GET', `/api/messages/${id}`);
      expect(record.json['status'], id).toBe('discarded');
    }
  });

  it('console: a delayed message shows when it leaves and a Discard button, in English and Japanese', async () => {
    const upstream = await relay();
    const guard = await guardWith(upstream.port, { delaySeconds: 600 });
    const { id, releaseAt } = await queue(guard, 'Console news');
    const base = `http://127.0.0.1:${guard.adminPort}`;
    const login = await fetch(`${base}/ui/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${TOKENS.alice}`,
      redirect: 'manual',
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const page = async (path: string, lang: string) => (await fetch(base + path, { headers: { cookie: `${cookie}; mg_lang=${lang}` } })).text();
    const en = await page(`/ui/messages/${id}`, 'en');
    expect(en).toMatch(new RegExp(`<span class="leaves-at">leaves at <time[^>]*${releaseAt.slice(0, 19)}`));
    expect(en).toContain(`action="/ui/messages/${id}/discard"`);
    expect(en).not.toContain(`action="/ui/messages/${id}/approve"`);
    expect(await page(`/ui/messages/${id}`, 'ja')).toContain('<span class="leaves-at">送信予定');
    expect(await page('/ui/messages?status=delayed', 'en')).toMatch(/<span class="leaves-at">leaves at /);
    expect(upstream.transactions).toBe(0);
  });

  it('still sends it once after a restart inside the window', async () => {
    const upstream = await relay();
    const first = await guardWith(upstream.port, { delaySeconds: 2 });
    const { id, releaseAt } = await queue(first, 'Across a restart');
    await first.stop();
    expect(upstream.transactions).toBe(0);

    const second = await guardWith(upstream.port, { delaySeconds: 1, storePath: first.storePath });
    const [arrived] = await arrivals(upstream, 1);
    expect(subjectOf(arrived!)).toBe('Across a restart');
    expect(arrived!.arrivedAt).toBeGreaterThanOrEqual(Date.parse(releaseAt));
    // A later message arrives after it, and nothing else came with them.
    await queue(second, 'After the restart');
    await arrivals(upstream, 2);
    expect(upstream.messages.map(subjectOf)).toEqual(['Across a restart', 'After the restart']);
    expect((await api(second, 'alice', 'GET', `/api/messages/${id}`)).json['status']).toBe('released');
  });

  it('shows a claim whose holder died, does not send it by itself, and sends it once after retry-claim', async () => {
    const upstream = await relay();
    const guard = await guardWith(upstream.port, { delaySeconds: 2 });
    const stuck = await queue(guard, 'Stuck');
    // A release that died half-way: its claim was taken and its lease ran out.
    const store = await openFileStore(guard.storePath);
    cleanups.push(() => store.close());
    await store.claimRelease(stuck.id, ['delayed'], new Date(Date.now() - 1000));

    const listed = await api(guard, 'alice', 'GET', '/api/claims/expired');
    expect(listed).toMatchObject({
      status: 200,
      json: { claims: [{ id: stuck.id, status: 'delayed', holder: { pid: process.pid }, since: expect.any(String), leaseUntil: expect.any(String) }] },
    });
    const warned = await within(
      guard.waitForLog((l) => l['event'] === 'claim_expired' && l['id'] === stuck.id),
      WAIT_MS,
      'claim_expired log line',
    );
    expect(warned).toMatchObject({ level: 40, holder: { pid: process.pid } });
    const metrics = await (await fetch(`http://127.0.0.1:${guard.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/^mailguard_release_claims_expired 1$/m);

    // Past its releaseAt (a later message left after it), it is still not sent.
    const later = await queue(guard, 'Later');
    await arrivals(upstream, 1);
    expect(Date.now()).toBeGreaterThan(Date.parse(stuck.releaseAt));
    expect(upstream.messages.map(subjectOf)).toEqual(['Later']);
    expect(guard.logs.filter((l) => l['event'] === 'claim_expired' && l['id'] === stuck.id)).toHaveLength(1);
    void later;

    // A reviewer may not give it back; an approver may, with a reason, audited.
    expect(await api(guard, 'alice', 'POST', `/api/messages/${stuck.id}/retry-claim`, { reason: 'checked the relay log' })).toMatchObject({ status: 403 });
    expect(await api(guard, 'bob', 'POST', `/api/messages/${stuck.id}/retry-claim`, {})).toMatchObject({ status: 400 });
    const fresh = await queue(guard, 'Fresh');
    expect(await api(guard, 'bob', 'POST', `/api/messages/${fresh.id}/retry-claim`, { reason: 'x' })).toMatchObject({ status: 409 });
    const retried = await api(guard, 'bob', 'POST', `/api/messages/${stuck.id}/retry-claim`, { reason: 'checked the relay log' });
    expect(retried).toMatchObject({ status: 200, json: { status: 'delayed' } });
    expect((await api(guard, 'bob', 'GET', '/api/claims/expired')).json).toEqual({ claims: [] });

    await arrivals(upstream, 3);
    expect(upstream.messages.map(subjectOf).sort()).toEqual(['Fresh', 'Later', 'Stuck']);
    const last = await queue(guard, 'Last');
    await arrivals(upstream, 4);
    expect(upstream.messages.map(subjectOf).filter((s) => s === 'Stuck')).toHaveLength(1);
    void last;
    const record = (await api(guard, 'bob', 'GET', `/api/messages/${stuck.id}`)).json as { status: string; history: { action: string; actor: string }[] };
    expect(record.status).toBe('released');
    expect(record.history.map((h) => h.action)).toEqual(['delayed', 'retry-claim', 'release']);
    const auditLog = await fetch(`http://127.0.0.1:${guard.adminPort}/api/audit?format=jsonl`, { headers: { authorization: `Bearer ${TOKENS.bob}` } });
    expect((await auditLog.text()).split('\n').filter((l) => l.includes('"retry-claim"'))).toHaveLength(1);
  });
});

const redis = await startRedisServer();
afterAll(async () => {
  await redis?.stop();
});

describe.skipIf(!redis)('delay window with two instances on one Redis', () => {
  it('sends each delayed message exactly once', async () => {
    const upstream = await relay();
    const store = { type: 'redis', url: redis!.url };
    const a = await guardWith(upstream.port, { store });
    const b = await guardWith(upstream.port, { store });
    const queued = [await queue(a, 'One'), await queue(b, 'Two'), await queue(a, 'Three'), await queue(b, 'Four')];
    await arrivals(upstream, 4);
    const marker = await queue(a, 'Marker');
    await arrivals(upstream, 5);
    expect(upstream.messages.map(subjectOf).sort()).toEqual(['Four', 'Marker', 'One', 'Three', 'Two']);
    for (const [i, q] of [...queued, marker].entries()) {
      expect(upstream.messages.find((m) => subjectOf(m) === ['One', 'Two', 'Three', 'Four', 'Marker'][i])!.arrivedAt).toBeGreaterThanOrEqual(
        Date.parse(q.releaseAt),
      );
    }
    // The log line follows the upstream's 250: wait for the marker's.
    const isMarker = (l: Record<string, unknown>) => l['event'] === 'delayed_departure' && l['id'] === marker.id;
    await within(Promise.any([a.waitForLog(isMarker), b.waitForLog(isMarker)]), WAIT_MS, 'the marker departure log line');
    const departures = [...a.logs, ...b.logs].filter((l) => l['event'] === 'delayed_departure' && l['outcome'] === 'released');
    expect(departures.map((l) => l['id']).sort()).toEqual([...queued, marker].map((q) => q.id).sort());
  });
});
