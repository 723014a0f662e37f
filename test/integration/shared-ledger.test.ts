// Issue 9 item 5: the delivery ledger is part of the store. Behind a load
// balancer a 451 on instance A and the mailer's retry on instance B used to
// send 9 of 10 members a second copy; with one redis-server both instances
// see the same ledger, and every copy goes out exactly once.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard } from '../helpers/start-mail-guard.js';

const redis = await startRedisServer();
afterAll(async () => {
  await redis?.stop();
});

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const MEMBERS = Array.from({ length: 10 }, (_, i) => `member${i}@ext${i}.example`);
const newsletter = ['From: news@example.co.jp', `To: ${MEMBERS.join(', ')}`, 'Subject: November', 'Message-ID: <nov@example.co.jp>', '', 'news', ''].join(
  '\r\n',
);

describe.skipIf(!redis)('one ledger for every instance on one Redis', () => {
  it('a 451 on instance A, the retry on instance B: each member gets exactly one copy', async () => {
    // member3 is busy the first time it is tried, then accepts.
    let busy = true;
    const upstream = await startRecordingUpstream({
      rcptReply: (a) => {
        if (a !== MEMBERS[3] || !busy) return undefined;
        busy = false;
        return { code: 451, message: '4.2.1 mailbox busy, try later' };
      },
    });
    cleanups.push(() => upstream.close());
    const config = {
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 2 },
      internalDomains: ['example.co.jp'],
      policy: { action: 'split' },
      store: { type: 'redis', url: redis!.url, ledgerHours: 1 },
    };
    const a = await startMailGuard(config);
    cleanups.push(() => a.stop());
    const b = await startMailGuard(config);
    cleanups.push(() => b.stop());

    const first = await sendOnce(a.smtpPort, 'news@example.co.jp', MEMBERS, newsletter);
    expect(first.final).toMatch(/^451 4\.4\.0 9 of 10 copies were accepted upstream; try again later and only the rest will be sent/);
    expect(upstream.messages).toHaveLength(9);

    const retry = await sendOnce(b.smtpPort, 'news@example.co.jp', MEMBERS, newsletter);
    expect(retry.final).toMatch(/^250 2\.0\.0 1 of 1 copies accepted upstream, one per recipient; 9 accepted on an earlier attempt/);
    const received = upstream.messages.map((m) => m.rcptTo.join(','));
    expect(received.sort()).toEqual([...MEMBERS].sort());
  });

  it('a ledger that cannot be read (Redis gone) is the store’s 451, not "could not be checked", and nothing is sent', async () => {
    const own = (await startRedisServer())!;
    cleanups.push(() => own.stop());
    const upstream = await startRecordingUpstream();
    cleanups.push(() => upstream.close());
    const guard = await startMailGuard({
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      store: { type: 'redis', url: own.url, redisOptions: { commandTimeout: 500 } },
    });
    cleanups.push(() => guard.stop());
    const clean = ['From: app@example.co.jp', 'To: one@ext1.example', 'Subject: receipt', '', 'thanks', ''].join('\r\n');
    expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', ['one@ext1.example'], clean)).final).toMatch(/^250 /);
    await own.stop();
    // The clean path asks the ledger before it sends (a retry must not send twice): with Redis gone it cannot.
    const result = await sendOnce(guard.smtpPort, 'app@example.co.jp', ['one@ext1.example'], clean);
    expect(result.final).toMatch(/^451 4\.3\.0 Message could not be stored; try again later \[[0-9A-Z]{26}\]$/);
    expect(upstream.messages).toHaveLength(1);
  });

  it('a ledger entry expires after store.ledgerHours', async () => {
    const { openRedisStore } = await import('../../src/store/redis-store.js');
    const { createRedisClient } = await import('../../src/store/redis-client.js');
    const store = await openRedisStore({ url: redis!.url, keyPrefix: 'ttl-test', ledgerHours: 2 });
    cleanups.push(() => store.close());
    await store.ledger.recordAccepted('d'.repeat(64), ['a@ext1.com']);
    const client = createRedisClient(redis!.url, {}, 1000);
    cleanups.push(async () => client.disconnect());
    await client.connect();
    const ttl = await client.pttl(`{ttl-test}:ledger:${'d'.repeat(64)}`);
    expect(ttl).toBeGreaterThan(2 * 3_600_000 - 60_000);
    expect(ttl).toBeLessThanOrEqual(2 * 3_600_000);
  });
});
