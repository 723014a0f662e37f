// Issue 12, point 3: the notice to the sender (one per campaign and hour, in
// notify.language, naming no member, MAIL FROM:<>) and the webhooks to the
// people on duty (held once per campaign, released, discarded; a receiver
// that is down or never answers does not slow the SMTP answers, and its event
// is retried, then dropped with a log line). Real sockets throughout: mailer →
// mail-guard → the recording upstream, and node:http receivers on 127.0.0.1.
//
// The incident here is the 832-member newsletter with 60 members (each copy
// still shows 59 others), so both languages run in the integration loop; the
// full 832 is replayed with quarantine in incident-notice.slow.test.ts.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import PostalMime from 'postal-mime';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.js';
import { INCIDENT_SENDER, incidentMembers, incidentNewsletter } from '../helpers/incident.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { startRecordingUpstream, type RecordedMessage, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce, TestSmtpClient } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';
import { within } from '../helpers/within.js';

const MEMBERS = incidentMembers(60);
const SENDER = INCIDENT_SENDER;

const newsletterFor = (member: string, subject = 'November newsletter', extra: string[] = []): string =>
  incidentNewsletter(MEMBERS, member, { subject, headers: extra, messageId: null });

const redis = await startRedisServer();
afterAll(async () => {
  await redis?.stop();
});

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function upstreamRelay(): Promise<RecordingUpstream> {
  const u = await startRecordingUpstream();
  cleanups.push(() => u.close());
  return u;
}

async function guardWith(upstream: RecordingUpstream, notify: Record<string, unknown>, more: Record<string, unknown> = {}): Promise<RunningMailGuard> {
  const g = await startMailGuard({
    upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 4 },
    internalDomains: ['example.co.jp'],
    policy: { action: 'quarantine', maxVisibleExternal: 1, fourEyes: false },
    notify,
    log: { level: 'debug' },
    ...more,
  });
  let stopped = false;
  const stop = g.stop;
  g.stop = async () => {
    if (!stopped) await stop();
    stopped = true;
  };
  cleanups.push(() => g.stop());
  return g;
}

/** Every member's copy over a few sessions, as the newsletter system sent them; the final replies. */
async function sendNewsletter(port: number, list: readonly string[], subject?: string): Promise<string[]> {
  const finals: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      const { client } = await TestSmtpClient.open(port);
      await client.command('EHLO newsletter.example.co.jp');
      while (next < list.length) {
        const member = list[next++]!;
        finals.push((await client.send(SENDER, [member], newsletterFor(member, subject))).final);
      }
      await client.quit();
    }),
  );
  return finals;
}

const isLine = (event: string, result?: string) => (l: Record<string, unknown>) => l['event'] === event && (result === undefined || l['result'] === result);

async function decoded(notice: RecordedMessage) {
  const email = await PostalMime.parse(notice.raw);
  const head = notice.raw.toString('latin1').slice(0, notice.raw.indexOf('\r\n\r\n'));
  return { email, head, all: `${email.subject}\n${email.text}\n${head}`.toLowerCase() };
}

function expectNoMember(text: string): void {
  for (const member of MEMBERS) expect(text).not.toContain(member);
  expect(text).not.toMatch(/member\d+@/);
}

describe('the notice to the sender', () => {
  for (const [language, subjectStart, bodyText] of [
    ['en', '[mail-guard] Held for review, not sent: "November newsletter"', 'showed the addresses of 59 external recipients to each other in To'],
    ['ja', '【mail-guard】送信を保留しました（未送信）：「November newsletter」', '社外の宛先 59 件のメールアドレスが To ヘッダーに記載されており'],
  ] as const) {
    it(`${language}: the incident replayed with quarantine gives exactly one notice, MAIL FROM:<>, naming no member`, async () => {
      const upstream = await upstreamRelay();
      const guard = await guardWith(upstream, { sender: true, from: 'mail-guard@example.co.jp', language });
      const finals = await sendNewsletter(guard.smtpPort, MEMBERS);
      for (const final of finals) expect(final).toMatch(/^250 2\.0\.0 held for review [0-9A-Z]{26}$/);
      await within(guard.waitForLog(isLine('sender_notice', 'sent')), 10_000, 'the sender notice');
      // Every other held message was considered and found the campaign already notified this hour.
      await within(
        guard.waitForLog(() => guard.logs.filter(isLine('sender_notice', 'skipped')).length === MEMBERS.length - 1),
        10_000,
        'the other 59 considered',
      );
      const metrics = await (await fetch(`http://127.0.0.1:${guard.adminPort}/metrics`)).text();
      expect(metrics).toContain('mailguard_notices_total{kind="sender",result="sent"} 1\n');
      expect(metrics).toContain(`mailguard_notices_total{kind="sender",result="skipped"} ${MEMBERS.length - 1}\n`);
      expect(metrics).toContain('mailguard_notices_total{kind="webhook",result="dropped"} 0\n');
      await guard.stop();

      expect(upstream.messages).toHaveLength(1);
      const [notice] = upstream.messages;
      expect(notice!.mailFrom).toBe('');
      expect(notice!.rcptTo).toEqual([SENDER]);
      const { email, head, all } = await decoded(notice!);
      expect(email.subject).toBe(subjectStart);
      expect(email.text).toContain(bodyText);
      expect(head).toMatch(/^Auto-Submitted: auto-replied$/m);
      expect(head).toMatch(/^X-Mail-Guard-Notice: [0-9A-Z]{26}$/m);
      expect(head).toMatch(new RegExp(`^Content-Language: ${language}$`, 'm'));
      expectNoMember(all);
      expect(guard.logs.filter(isLine('sender_notice', 'failed'))).toEqual([]);
    });
  }

  it.skipIf(!redis)('two instances on one Redis: one notice for the campaign, whichever instance held its messages', async () => {
    const upstream = await upstreamRelay();
    const store = { type: 'redis', url: redis?.url };
    const notify = { sender: true, from: 'mail-guard@example.co.jp', language: 'en' };
    const [one, two] = [await guardWith(upstream, notify, { store }), await guardWith(upstream, notify, { store })];
    await Promise.all([sendNewsletter(one.smtpPort, MEMBERS.slice(0, 20)), sendNewsletter(two.smtpPort, MEMBERS.slice(20, 40))]);
    const considered = (g: RunningMailGuard) => g.logs.filter((l) => l['event'] === 'sender_notice').length;
    for (const g of [one, two])
      await within(
        g.waitForLog(() => considered(g) === 20),
        10_000,
        'every held message considered',
      );
    await Promise.all([one.stop(), two.stop()]);
    expect(upstream.messages).toHaveLength(1);
    expect(upstream.messages[0]!.mailFrom).toBe('');
  });

  it('rejected mail: the mailer gets its 550 and the sender one notice saying nothing was sent', async () => {
    const upstream = await upstreamRelay();
    const guard = await guardWith(upstream, { sender: true, from: 'mail-guard@example.co.jp' }, { policy: { action: 'reject', maxVisibleExternal: 1 } });
    for (const final of await sendNewsletter(guard.smtpPort, MEMBERS.slice(0, 6))) expect(final).toMatch(/^550 5\.7\.1 /);
    await within(guard.waitForLog(isLine('sender_notice', 'sent')), 10_000, 'the notice');
    await guard.stop();
    expect(upstream.messages).toHaveLength(1);
    const { email, all } = await decoded(upstream.messages[0]!);
    expect(email.subject).toBe('[mail-guard] Refused, not sent: "November newsletter"');
    expect(email.text).toContain('refused and has not been sent');
    expectNoMember(all);
  });

  it('a second campaign gets its own notice; mail from <> and Auto-Submitted mail get none', async () => {
    const upstream = await upstreamRelay();
    const guard = await guardWith(upstream, { sender: true, from: 'mail-guard@example.co.jp', language: 'en' });
    const held = /^250 2\.0\.0 held for review/;

    expect((await sendOnce(guard.smtpPort, '', [MEMBERS[0]!], newsletterFor(MEMBERS[0]!, 'A bounce'))).final).toMatch(held);
    const auto = newsletterFor(MEMBERS[1]!, 'Automatic report', ['Auto-Submitted: auto-generated']);
    expect((await sendOnce(guard.smtpPort, SENDER, [MEMBERS[1]!], auto)).final).toMatch(held);
    await within(
      guard.waitForLog((l) => isLine('sender_notice', 'skipped')(l) && l['why'] === 'null sender'),
      5000,
      'the <> message passed over',
    );
    await within(
      guard.waitForLog((l) => isLine('sender_notice', 'skipped')(l) && l['why'] === 'auto-submitted'),
      5000,
      'the Auto-Submitted message passed over',
    );

    await sendNewsletter(guard.smtpPort, MEMBERS.slice(0, 5), 'November newsletter');
    await within(guard.waitForLog(isLine('sender_notice', 'sent')), 10_000, 'the first campaign’s notice');
    await sendNewsletter(guard.smtpPort, MEMBERS.slice(0, 5), 'November newsletter, corrected');
    await within(
      guard.waitForLog(() => guard.logs.filter(isLine('sender_notice', 'sent')).length === 2),
      10_000,
      'the second campaign’s notice',
    );
    await guard.stop();

    expect(upstream.messages).toHaveLength(2);
    const subjects = await Promise.all(upstream.messages.map(async (m) => (await decoded(m)).email.subject));
    expect(subjects.sort()).toEqual([
      '[mail-guard] Held for review, not sent: "November newsletter"',
      '[mail-guard] Held for review, not sent: "November newsletter, corrected"',
    ]);
    for (const m of upstream.messages) expect([m.mailFrom, m.rcptTo]).toEqual(['', [SENDER]]);
  });
});

interface Receiver {
  readonly url: string;
  readonly bodies: Array<Record<string, unknown>>;
  /** Requests still waiting for an answer (the slow receiver never answers them). */
  readonly open: ServerResponse[];
  readonly requests: number;
  /** Resolves once `n` requests have arrived. */
  arrived(n: number): Promise<void>;
}

async function receiver(answer: 'ok' | 'never', path = '/hook'): Promise<Receiver> {
  const bodies: Array<Record<string, unknown>> = [];
  const open: ServerResponse[] = [];
  const waiting: Array<() => void> = [];
  let requests = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      if (answer === 'ok') res.writeHead(204).end();
      else open.push(res);
      for (const check of waiting.splice(0)) check();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    bodies,
    open,
    get requests() {
      return requests;
    },
    arrived: (n) =>
      new Promise<void>((resolve) => {
        const check = () => (requests >= n ? resolve() : waiting.push(check));
        check();
      }),
  };
}

const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
const BOB = 'bob-approver-token-0123456789';
const admin = { tokens: [{ name: 'bob', tokenSha256: sha256(BOB), role: 'approver' }] };
const api = (guard: RunningMailGuard, path: string, body: object) =>
  fetch(`http://127.0.0.1:${guard.adminPort}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${BOB}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('webhooks to the people on duty', () => {
  it('held (once per campaign), released and discarded reach a json receiver with their fields and no member address; slack gets one line', async () => {
    const upstream = await upstreamRelay();
    const json = await receiver('ok');
    const slack = await receiver('ok');
    const guard = await guardWith(
      upstream,
      {
        webhooks: [
          { url: json.url, format: 'json', events: ['held', 'released', 'discarded'] },
          { url: slack.url, format: 'slack', events: ['held'] },
        ],
      },
      { admin },
    );
    const finals = await sendNewsletter(guard.smtpPort, MEMBERS.slice(0, 12));
    const ids = finals.map((f) => /held for review ([0-9A-Z]{26})$/.exec(f)![1]!);
    expect((await api(guard, `/api/messages/${ids[0]}/release`, { as: 'split' })).status).toBe(200);
    expect((await api(guard, `/api/messages/${ids[1]}/discard`, { reason: 'wrong list; ask member3@docomo.ne.jp' })).status).toBe(200);
    // The queue keeps its order: once the discard is in, every held event before it was delivered or passed over.
    await within(json.arrived(3), 10_000, 'held, released, discarded');
    await within(slack.arrived(1), 10_000, 'the slack line');

    expect(json.bodies.map((b) => b['event'])).toEqual(['held', 'released', 'discarded']);
    const [heldEvent, released, discarded] = json.bodies;
    expect(heldEvent).toMatchObject({
      source: 'mail-guard',
      campaign: expect.stringMatching(/^[0-9a-f]{24}$/),
      sender: 'n***@e***.jp',
      subject: 'November newsletter',
      rule: 'default',
      exposedExternalCount: 59,
      exposingHeaders: ['To'],
      cause: 'policy',
    });
    expect(ids).toContain(heldEvent!['id']);
    expect(heldEvent!['reason']).toEqual(expect.any(String));
    expect(released).toMatchObject({ event: 'released', id: ids[0], campaign: heldEvent!['campaign'], actor: 'bob', as: 'split' });
    expect(discarded).toMatchObject({ event: 'discarded', id: ids[1], campaign: heldEvent!['campaign'], actor: 'bob', as: null });
    expect(discarded!['reason']).toBe('wrong list; ask [address removed]');
    expectNoMember(JSON.stringify([...json.bodies, ...slack.bodies]));

    await guard.stop();
    // Twelve held messages of one campaign: one page each, and nothing more arrived while stopping.
    expect(json.requests).toBe(3);
    expect(slack.bodies).toHaveLength(1);
    expect(Object.keys(slack.bodies[0]!)).toEqual(['text']);
    expect(slack.bodies[0]!['text']).toMatch(
      /^mail-guard held message [0-9A-Z]{26} from n\*\*\*@e\*\*\*\.jp, subject "November newsletter" \(campaign [0-9a-f]{24}\): rule default; 59 external addresses visible in To\.$/,
    );
  });

  it('a receiver that is down: the SMTP answer comes at once, the event is retried, then dropped with a log line naming only the host', async () => {
    const upstream = await upstreamRelay();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/services/T000/B000/secret-path`;
    const guard = await guardWith(upstream, { webhooks: [{ url, events: ['held'], retries: 2, timeoutSeconds: 1 }] });
    expect((await sendOnce(guard.smtpPort, SENDER, [MEMBERS[0]!], newsletterFor(MEMBERS[0]!))).final).toMatch(/^250 2\.0\.0 held for review/);
    // Nothing was dropped yet when the mailer had its answer: the retries run after it.
    expect(guard.logs.filter(isLine('webhook_dropped'))).toEqual([]);
    const dropped = await within(guard.waitForLog(isLine('webhook_dropped')), 15_000, 'the drop');
    expect(dropped).toMatchObject({ level: 40, host: `127.0.0.1:${port}`, kind: 'held', attempts: 3, lastError: 'ECONNREFUSED' });
    expect(JSON.stringify(guard.logs)).not.toContain('secret-path');
  });

  it('a receiver that never answers: later SMTP answers come while it still holds the request; retried after the timeout, then dropped', async () => {
    const upstream = await upstreamRelay();
    const slow = await receiver('never');
    const guard = await guardWith(upstream, { webhooks: [{ url: slow.url, events: ['held'], retries: 1, timeoutSeconds: 1 }] });
    const order: string[] = [];

    expect((await sendOnce(guard.smtpPort, SENDER, [MEMBERS[0]!], newsletterFor(MEMBERS[0]!, 'First send'))).final).toMatch(/^250 /);
    await within(slow.arrived(1), 5000, 'the first POST');
    order.push(`request open: ${slow.open.length}`);
    // Another campaign, so its event is not passed over; it waits in the queue behind the open request.
    const second = await sendOnce(guard.smtpPort, SENDER, [MEMBERS[1]!], newsletterFor(MEMBERS[1]!, 'Second send'));
    order.push(`answered: ${second.final.slice(0, 3)}`, `request open: ${slow.open.length}, dropped: ${guard.logs.filter(isLine('webhook_dropped')).length}`);
    expect(order).toEqual(['request open: 1', 'answered: 250', 'request open: 1, dropped: 0']);

    const dropped = await within(guard.waitForLog(isLine('webhook_dropped')), 15_000, 'the first event dropped');
    expect(dropped).toMatchObject({ kind: 'held', attempts: 2, lastError: 'no answer within 1 s' });
    // Two attempts of the first event, each held open until its timeout.
    expect(slow.bodies.slice(0, 2).map((b) => b['subject'])).toEqual(['First send', 'First send']);
  });
});
