// What Prometheus and the on-call see: exact counters after a known mix of
// messages, readiness that flips with the store and the upstream, one log
// line per message with no raw address.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crlf } from '../helpers/crlf.js';
import { freePort } from '../helpers/free-port.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce, TestSmtpClient } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function relay(options: Parameters<typeof startRecordingUpstream>[0] = {}): Promise<RecordingUpstream> {
  const u = await startRecordingUpstream(options);
  cleanups.push(() => u.close());
  return u;
}
async function guard(config: Record<string, unknown>): Promise<RunningMailGuard> {
  const g = await startMailGuard(config);
  cleanups.push(() => g.stop());
  return g;
}

/** `name{labels} value` lines of the exposition, as a map. */
async function scrape(g: RunningMailGuard): Promise<Map<string, number>> {
  const response = await fetch(`http://127.0.0.1:${g.adminPort}/metrics`);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  const series = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    const m = /^(mailguard_[a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) series.set(m[1]!, Number(m[2]));
  }
  return series;
}

const clean = crlf('From: app@example.co.jp', 'To: alice@ext1.com', 'Subject: receipt', '', 'x', '');
const leaking = crlf('From: news@example.co.jp', 'To: alice@ext1.com, bob@ext2.com, carol@ext3.com', 'Subject: news', '', 'x', '');
const newsletterOnly = crlf('From: news@example.co.jp', 'To: dave@ext4.com, erin@ext5.com', 'Subject: news', '', 'x', '');

describe('metrics', () => {
  it('counts a known mix exactly, by action, rule and session result, with no address in any label', async () => {
    const upstream = await relay();
    const g = await guard({
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      policy: {
        action: 'reject',
        rules: [{ name: 'newsletter', from: 'news@example.co.jp', fromDomain: 'example.co.jp', maxVisibleExternal: 2, action: 'split' }],
      },
      smtp: { maxMessageBytes: 2048 },
    });
    for (let i = 0; i < 3; i++) expect((await sendOnce(g.smtpPort, 'app@example.co.jp', ['alice@ext1.com'], clean)).final).toMatch(/^250 /);
    // newsletter rule: 3 visible > 2 → split into 3 copies; 2 visible → pass
    expect((await sendOnce(g.smtpPort, 'news@example.co.jp', ['alice@ext1.com', 'bob@ext2.com', 'carol@ext3.com'], leaking)).final).toMatch(
      /^250 2\.0\.0 3 of 3/,
    );
    expect((await sendOnce(g.smtpPort, 'news@example.co.jp', ['dave@ext4.com', 'erin@ext5.com'], newsletterOnly)).final).toMatch(/^250 /);
    // default rule: reject twice
    for (let i = 0; i < 2; i++)
      expect((await sendOnce(g.smtpPort, 'crm@example.co.jp', ['alice@ext1.com', 'bob@ext2.com'], leaking)).final).toMatch(/^550 5\.7\.1 /);
    // too big
    expect((await sendOnce(g.smtpPort, 'app@example.co.jp', ['alice@ext1.com'], clean + 'y'.repeat(3000) + '\r\n')).final).toMatch(/^552 5\.3\.4 /);

    const m = await scrape(g);
    expect(m.get('mailguard_messages_total{action="pass"}')).toBe(4);
    expect(m.get('mailguard_messages_total{action="split"}')).toBe(1);
    expect(m.get('mailguard_messages_total{action="reject"}')).toBe(3);
    expect(m.get('mailguard_messages_total{action="quarantine"}')).toBe(0);
    expect(m.get('mailguard_violations_total{rule="newsletter"}')).toBe(1);
    expect(m.get('mailguard_violations_total{rule="default"}')).toBe(2);
    expect(m.get('mailguard_smtp_sessions_total{result="accepted"}')).toBe(8);
    expect(m.get('mailguard_smtp_sessions_total{result="denied"}')).toBe(0);
    // 4 pass + 3 split copies = 7 upstream transactions, none failed
    expect(m.get('mailguard_upstream_seconds_count')).toBe(7);
    // upstream.pool auto: the sessions those transactions used are open, and the gauge says how many.
    expect(m.get('mailguard_upstream_pool_sessions')).toBeGreaterThanOrEqual(1);
    expect(m.get('mailguard_upstream_pool_wait_seconds_count')).toBeTypeOf('number');
    expect(m.get('mailguard_upstream_errors_total{class="connect"}')).toBe(0);
    expect(m.get('mailguard_visible_external_recipients_count')).toBe(7);
    expect(m.get('mailguard_visible_external_recipients_bucket{le="2"}')).toBe(4);
    expect(m.get('mailguard_message_bytes_count')).toBe(8);
    expect(m.get('mailguard_quarantine_messages{status="held"}')).toBe(0);
    expect(m.get('mailguard_ready')).toBe(1);

    const exposition = await (await fetch(`http://127.0.0.1:${g.adminPort}/metrics`)).text();
    expect(exposition).not.toMatch(/@|ext1|news@|receipt/);
    expect(exposition).toMatch(/^process_cpu_user_seconds_total /m);
  });

  it('counts held mail by status, its age, denied sessions and upstream connect errors', async () => {
    const g = await guard({
      upstream: { host: '127.0.0.1', port: await freePort(), requireTLS: false, connectTimeoutSeconds: 2 },
      internalDomains: ['example.co.jp'],
      policy: { action: 'quarantine' },
    });
    expect((await sendOnce(g.smtpPort, 'news@example.co.jp', ['alice@ext1.com', 'bob@ext2.com'], leaking)).final).toMatch(/^250 2\.0\.0 held for review /);
    expect((await sendOnce(g.smtpPort, 'app@example.co.jp', ['alice@ext1.com'], clean)).final).toMatch(/^451 4\.4\.1 /);
    const m = await scrape(g);
    expect(m.get('mailguard_quarantine_messages{status="held"}')).toBe(1);
    expect(m.get('mailguard_messages_total{action="quarantine"}')).toBe(1);
    expect(m.get('mailguard_messages_total{action="tempfail"}')).toBe(1);
    expect(m.get('mailguard_upstream_errors_total{class="connect"}')).toBe(1);
    expect(m.get('mailguard_quarantine_oldest_held_seconds')).toBeGreaterThanOrEqual(0);
    expect(m.get('mailguard_quarantine_oldest_held_seconds')).toBeLessThan(60);

    const denied = await guard({ smtp: { allowFrom: ['192.0.2.0/24'] } });
    const { client, greeting } = await TestSmtpClient.open(denied.smtpPort);
    expect(greeting).toMatch(/^554 /);
    await client.quit();
    expect((await scrape(denied)).get('mailguard_smtp_sessions_total{result="denied"}')).toBe(1);
  });
});

describe('readiness', () => {
  const readyz = async (g: RunningMailGuard) => {
    const r = await fetch(`http://127.0.0.1:${g.adminPort}/readyz`);
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  it('is ready in rehearsal mode, and not ready when the store stops working', async () => {
    const g = await guard({});
    expect(await readyz(g)).toEqual({
      status: 200,
      // config: which one runs (its hash and load time change on a reload, test/integration/config-reload.test.ts).
      body: {
        status: 'ready',
        store: 'ok',
        upstream: 'rehearsal mode (no upstream)',
        draining: false,
        config: { hash: expect.stringMatching(/^[0-9a-f]{12}$/) as unknown, loadedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown },
      },
    });
    await rm(join(g.storePath, 'records'), { recursive: true, force: true });
    await writeFile(join(g.storePath, 'records'), 'not a directory');
    // The gauge is checked at scrape time, without anyone probing /readyz.
    const scraped = await scrape(g);
    expect(scraped.get('mailguard_ready')).toBe(0);
    expect(scraped.get('mailguard_ready_check{check="store"}')).toBe(0);
    expect(scraped.get('mailguard_ready_check{check="upstream"}')).toBe(1);
    const down = await readyz(g);
    expect(down.status).toBe(503);
    expect(down.body['status']).toBe('not ready');
    expect(String(down.body['store'])).toMatch(/^failing: /);
  });

  it('flips when the upstream stops and comes back', async () => {
    const upstream = await relay();
    const g = await guard({ upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, connectTimeoutSeconds: 1 } });
    expect((await readyz(g)).status).toBe(200);
    await upstream.close();
    const down = await readyz(g);
    expect(down.status).toBe(503);
    expect(down.body['store']).toBe('ok');
    expect(String(down.body['upstream'])).toMatch(/^failing: /);
  });

  it('is not ready from the first failed attempt after a success, and ready again on the next success', async () => {
    const upstream = await relay();
    const port = upstream.port;
    const g = await guard({ upstream: { host: '127.0.0.1', port, requireTLS: false, connectTimeoutSeconds: 1 } });
    const clean = 'From: a@example.co.jp\r\nTo: b@ext.com\r\nSubject: s\r\n\r\nx\r\n';
    expect((await sendOnce(g.smtpPort, 'a@example.co.jp', ['b@ext.com'], clean)).final).toMatch(/^250 /);
    expect((await readyz(g)).status).toBe(200);

    await upstream.close();
    expect((await sendOnce(g.smtpPort, 'a@example.co.jp', ['b@ext.com'], clean)).final).toMatch(/^451 4\.4\.[12] /);
    // The success a moment ago no longer counts: the latest attempt failed.
    const down = await readyz(g);
    expect(down.status).toBe(503);
    expect(String(down.body['upstream'])).toMatch(/^failing: .*; last attempt: (connect|envelope|data) /);

    const back = await startRecordingUpstream({ port });
    cleanups.push(() => back.close());
    expect((await readyz(g)).status).toBe(200);
  });

  it('turns not ready as soon as a drain starts', async () => {
    const g = await startMailGuard({});
    const stopping = g.stop();
    // The admin server is still up while SMTP sessions drain.
    const during = await fetch(`http://127.0.0.1:${g.adminPort}/readyz`).then(
      (r) => r.status,
      () => 'closed',
    );
    await stopping;
    expect([503, 'closed']).toContain(during);
  });
});

describe('logs', () => {
  it('one line per message with id, action, rule, counts, size and timings; addresses masked', async () => {
    const upstream = await relay();
    const g = await guard({
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      policy: { action: 'reject' },
    });
    const replies = [
      (await sendOnce(g.smtpPort, 'app@example.co.jp', ['alice@ext1.com'], clean)).final,
      (await sendOnce(g.smtpPort, 'news@example.co.jp', ['alice@ext1.com', 'bob@ext2.com'], leaking)).final,
    ];
    const lines = g.logs.filter((l) => typeof l['id'] === 'string');
    expect(lines).toHaveLength(2);
    for (const [i, line] of lines.entries()) {
      expect(replies[i]).toContain(`[${line['id']}]`);
      expect(line).toMatchObject({ rule: 'default', client: '127.0.0.1' });
      expect(line['timings']).toMatchObject({ receiveMs: expect.any(Number), analyseMs: expect.any(Number), deliverMs: expect.any(Number) });
      expect(typeof line['size']).toBe('number');
    }
    expect(lines[0]).toMatchObject({ action: 'pass', visibleExternal: 1, reply: '250 2.0.0' });
    expect(lines[1]).toMatchObject({ action: 'reject', visibleExternal: 3, exposedExternal: 3, reply: '550 5.7.1' });
    expect(JSON.stringify(g.logs)).not.toMatch(/alice@|bob@|carol@|news@example|app@example/);
  });
});
