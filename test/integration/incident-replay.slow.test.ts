// The seed incident, replayed: a newsletter to 832 members, one message per
// member, each with every member's address in To. Three full replays of 832
// messages with 832-address headers take ~20 s: the slow project (npm run test:slow).
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { incidentMembers, incidentNewsletter } from '../helpers/incident.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';
import { TestSmtpClient } from '../helpers/smtp-client.js';

const MEMBERS = incidentMembers(832);
const newsletterFor = (member: string): string => incidentNewsletter(MEMBERS, member);

/** Sends every member's message over a few persistent sessions; returns the final replies in member order. */
async function sendNewsletter(port: number, sessions = 8): Promise<string[]> {
  const finals: string[] = new Array(MEMBERS.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: sessions }, async () => {
      const { client } = await TestSmtpClient.open(port);
      await client.command('EHLO newsletter.example.co.jp');
      while (next < MEMBERS.length) {
        const i = next++;
        finals[i] = (await client.send('news@example.co.jp', [MEMBERS[i]!], newsletterFor(MEMBERS[i]!))).final;
      }
      await client.quit();
    }),
  );
  return finals;
}

function headerBlock(raw: Buffer): string {
  const text = raw.toString('utf8');
  return text.slice(0, text.indexOf('\r\n\r\n'));
}

describe('the 832-member incident, replayed', () => {
  let upstream: RecordingUpstream;
  let guard: RunningMailGuard;
  afterEach(async () => {
    await guard?.stop();
    await upstream?.close();
  });

  const start = async (action: string) => {
    upstream = await startRecordingUpstream();
    guard = await startMailGuard({
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 8 },
      internalDomains: ['example.co.jp'],
      policy: { action, maxVisibleExternal: 1 },
    });
  };

  it('monitor with a 60 s delay window (a rule that would have missed it): a reviewer stops the campaign from the API and the upstream receives nothing', async () => {
    const token = 'incident-reviewer-token-0123456789';
    upstream = await startRecordingUpstream();
    guard = await startMailGuard({
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 8 },
      internalDomains: ['example.co.jp'],
      policy: { action: 'monitor', maxVisibleExternal: 1, delaySeconds: 60 },
      admin: { tokens: [{ name: 'duty', tokenSha256: createHash('sha256').update(token).digest('hex'), role: 'reviewer' }] },
    });
    const sentAt = Date.now();
    const finals = await sendNewsletter(guard.smtpPort);
    for (const final of finals) expect(final).toMatch(/^250 2\.0\.0 queued, leaves at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z [0-9A-Z]{26}$/);
    const leavesAt = Math.min(...finals.map((f) => Date.parse(/leaves at (\S+)/.exec(f)![1]!)));
    expect(leavesAt).toBeGreaterThanOrEqual(sentAt + 59_000);

    const api = (method: string, path: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${guard.adminPort}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    const listing = (await (await api('GET', '/api/campaigns')).json()) as { campaigns: { key: string; count: number; statuses: Record<string, number> }[] };
    expect(listing.campaigns).toHaveLength(1);
    expect(listing.campaigns[0]!.statuses).toEqual({ delayed: MEMBERS.length });
    const stopped = await api('POST', `/api/campaigns/${listing.campaigns[0]!.key}/discard`, { reason: 'wrong list: every member in To' });
    expect(stopped.status).toBe(200);
    expect(((await stopped.json()) as { succeeded: number }).succeeded).toBe(MEMBERS.length);
    // Still inside the window, and nothing is left that could leave later.
    expect(Date.now()).toBeLessThan(leavesAt);
    expect(upstream.transactions).toBe(0);
    const waiting = (await (await api('GET', '/api/messages?status=delayed&limit=10')).json()) as { records: unknown[] };
    expect(waiting.records).toHaveLength(0);
  });

  it('split: every member receives exactly one copy that shows only their own address', async () => {
    await start('split');
    const finals = await sendNewsletter(guard.smtpPort);
    for (const final of finals) expect(final).toMatch(/^250 2\.0\.0 1 of 1 copies accepted upstream/);
    expect(upstream.messages).toHaveLength(MEMBERS.length);
    const seen = new Map<string, number>();
    for (const message of upstream.messages) {
      expect(message.rcptTo).toHaveLength(1);
      const member = message.rcptTo[0]!;
      seen.set(member, (seen.get(member) ?? 0) + 1);
      const headers = headerBlock(message.raw);
      expect(headers).toContain(`\r\nTo: <${member}>`);
      // no other member's address anywhere in the headers
      const others = headers.match(/member\d+@[a-z.-]+/g) ?? [];
      expect(new Set(others)).toEqual(new Set([member]));
      expect(headers).toContain('Message-ID: <nov-2026@example.co.jp>');
      expect(message.raw.toString('utf8')).toContain(`this copy is for ${member}.`);
    }
    expect(seen.size).toBe(MEMBERS.length);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });

  it('reject: every message gets 550 5.7.1 and the upstream receives nothing', async () => {
    await start('reject');
    const finals = await sendNewsletter(guard.smtpPort);
    for (const final of finals) {
      // each copy's own member is not exposed to themselves: 831 others are
      expect(final).toMatch(/^550 5\.7\.1 Message exposes 831 external recipient addresses to each other in To; send with Bcc/);
    }
    expect(upstream.messages).toHaveLength(0);
    expect(upstream.transactions).toBe(0);
  });

  it('monitor: all are relayed as they are and 832 violations are counted', async () => {
    await start('monitor');
    const finals = await sendNewsletter(guard.smtpPort);
    for (const final of finals) expect(final).toMatch(/^250 /);
    expect(upstream.messages).toHaveLength(MEMBERS.length);
    expect(headerBlock(upstream.messages[0]!.raw)).toContain(MEMBERS[831]);
    const outcomes = guard.logs.filter((l) => l['msg'] === 'message handled');
    expect(outcomes).toHaveLength(MEMBERS.length);
    expect(outcomes.filter((l) => l['violation'] === true && l['action'] === 'monitor')).toHaveLength(MEMBERS.length);
  });
});
