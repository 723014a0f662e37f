// Redis-store faults the shared contract cannot express: two proxies on one
// Redis, Redis killed mid-test, Redis out of memory, Redis not there at all.
// The outage test kills its own redis-server, so the others keep theirs.

import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError, type MessageStore } from '../../src/store/message-store.js';
import { openStore } from '../../src/store/open-store.js';
import { openRedisStore, type RedisStoreOptions } from '../../src/store/redis-store.js';
import { SCRIPTS } from '../../src/store/redis-store-scripts.js';
import { freePort } from '../helpers/free-port.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { body, entry, expectConflict, lease, makeRecord } from '../helpers/store-records.js';
import { within } from '../helpers/within.js';

const shared = await startRedisServer();
afterAll(async () => {
  await shared?.stop();
});

const opened: MessageStore[] = [];
async function open(url: string, keyPrefix = `t-${randomBytes(6).toString('hex')}`, options: Partial<RedisStoreOptions> = {}): Promise<MessageStore> {
  const store = await openRedisStore({ ...options, url, keyPrefix });
  opened.push(store);
  return store;
}
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

/** Settles `promise` and says how long it took, so a hang shows up as a test timeout, not a pass. */
async function settle(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const start = performance.now();
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  return { error, ms: Math.round(performance.now() - start) };
}

describe.skipIf(!shared)('redis store: faults', () => {
  const redis = shared!;

  it('two store instances (two connections, as two proxies) let exactly one claim win', async () => {
    const prefix = `race-${randomBytes(4).toString('hex')}`;
    const [a, b] = [await open(redis.url, prefix), await open(redis.url, prefix)];
    const record = makeRecord({ status: 'approved' });
    await a.put(record, body());
    expect(await b.get(record.id)).toEqual(record);
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).claimRelease(record.id, ['approved'], lease())));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    await b.completeRelease(record.id, entry('release'));
    await expectConflict(a.claimRelease(record.id, ['approved', 'released'], lease()), 'released');
  });

  it('lists a claim written before leases (no lease) as expired once a store opens, and gives it back', async () => {
    const prefix = `old-${randomBytes(4).toString('hex')}`;
    const store = await open(redis.url, prefix);
    const record = makeRecord({ status: 'delayed', releaseAt: new Date(Date.now() - 1000).toISOString() });
    await store.put(record, body());
    // What an older mail-guard left: the claim JSON alone, no lease, in no claims index.
    const admin = new Redis(redis.url);
    try {
      await admin.hset(`{${prefix}}:rec:${record.id}`, 'claim', JSON.stringify({ at: '2026-01-01T00:00:00.000Z', host: 'old-host', pid: 4242 }));
      await admin.zrem(`{${prefix}}:due`, record.id);
    } finally {
      admin.disconnect();
    }
    expect(await store.expiredClaims(new Date(), 10)).toEqual([]);
    const reopened = await open(redis.url, prefix);
    const [stuck] = await reopened.expiredClaims(new Date(), 10);
    expect(stuck).toMatchObject({ record: { id: record.id }, claim: { host: 'old-host', pid: 4242, leaseUntil: null } });
    expect(await reopened.dueForRelease(new Date(), 10)).toEqual([]);
    await reopened.retryExpiredClaim(record.id, entry('retry-claim'), new Date());
    expect((await reopened.dueForRelease(new Date(), 10)).map((r) => r.id)).toEqual([record.id]);
  });

  it('runs its scripts again after SCRIPT FLUSH: EVALSHA meets NOSCRIPT, ioredis sends EVAL', async () => {
    const store = await open(redis.url);
    const admin = new Redis(redis.url);
    const sha = (lua: string): string => createHash('sha1').update(lua).digest('hex');
    const noscripts = async (): Promise<number> => Number(/^errorstat_NOSCRIPT:count=(\d+)/m.exec(await admin.info('errorstats'))?.[1] ?? 0);
    try {
      // First calls on this connection: the scripts are loaded.
      const first = makeRecord();
      await store.put(first, body());
      await store.claimRelease(first.id, ['held'], lease());
      expect(await admin.script('EXISTS', sha(SCRIPTS.put.lua), sha(SCRIPTS.claim.lua))).toEqual([1, 1]);

      await admin.script('FLUSH');
      expect(await admin.script('EXISTS', sha(SCRIPTS.put.lua), sha(SCRIPTS.claim.lua))).toEqual([0, 0]);
      const before = await noscripts();
      // The same connection, which ioredis believes has the scripts: EVALSHA, NOSCRIPT, then EVAL.
      const second = makeRecord();
      await store.put(second, body());
      expect(await noscripts()).toBe(before + 1);
      expect(await store.get(second.id)).toEqual(second);
      // Several at once, as a busy proxy would: each NOSCRIPT is resent, none fails.
      await admin.script('FLUSH');
      const many = Array.from({ length: 10 }, () => makeRecord());
      await Promise.all(many.map((r) => store.put(r, body())));
      expect(await noscripts()).toBeGreaterThan(before + 1);
      const claims = await Promise.allSettled([second, ...many].map((r) => store.claimRelease(r.id, ['held'], lease())));
      expect(claims.filter((c) => c.status === 'rejected')).toEqual([]);
      await expectConflict(store.claimRelease(first.id, ['held'], lease()), 'releasing');
      expect(await admin.script('EXISTS', sha(SCRIPTS.put.lua), sha(SCRIPTS.claim.lua))).toEqual([1, 1]);
    } finally {
      admin.disconnect();
    }
  });

  it('answers StoreUnavailableError, not a hang, while Redis is down, and works again after a restart', async () => {
    const redis = (await startRedisServer())!;
    try {
      await outageAndRecovery(redis);
    } finally {
      await redis.stop();
    }
  });

  async function outageAndRecovery(redis: RedisServer): Promise<void> {
    let reconnected!: () => void;
    const back = new Promise<void>((resolve) => (reconnected = resolve));
    const store = await open(redis.url, undefined, { onReconnect: () => reconnected() });
    const before = makeRecord();
    await store.put(before, body());

    await redis.kill();
    const during = makeRecord();
    const put = await settle(store.put(during, body()));
    const get = await settle(store.get(before.id));
    const claim = await settle(store.claimRelease(before.id, ['held'], lease()));
    const ping = await settle(store.ping());
    process.stderr.write(`redis killed: put ${put.ms} ms, get ${get.ms} ms, claim ${claim.ms} ms, ping ${ping.ms} ms to fail\n`);
    for (const { error } of [put, get, claim, ping]) expect(error).toBeInstanceOf(StoreUnavailableError);

    await redis.restart();
    // ioredis reconnects on its own (retry every ≤ 2 s) and the store says when.
    await within(back, 15_000, 'the store reconnecting after the restart');
    expect((await settle(store.ping())).error).toBeNull();
    // Written before the kill, so on disk in the AOF.
    expect(await store.get(before.id)).toEqual(before);
    expect(await store.get(during.id)).toBeNull();
    await store.put(during, body());
    expect((await store.list({ limit: 10 })).records.map((r) => r.id)).toEqual([during.id, before.id].sort().reverse());
  }

  it('refuses a put when Redis is out of memory (noeviction), and writes nothing', async () => {
    const store = await open(redis.url);
    const admin = new Redis(redis.url);
    try {
      await admin.config('SET', 'maxmemory', '1mb');
      const record = makeRecord();
      const result = await settle(store.put(record, [randomBytes(2 * 1024 * 1024)]));
      expect(result.error).toBeInstanceOf(StoreUnavailableError);
      expect(String((result.error as Error).message)).toMatch(/OOM/);
      await admin.config('SET', 'maxmemory', '0');
      expect(await store.get(record.id)).toBeNull();
      expect(await store.raw(record.id)).toBeNull();
      expect((await store.list({ limit: 5 })).records).toEqual([]);
      await store.put(record, body());
      expect((await store.get(record.id))?.id).toBe(record.id);
    } finally {
      await admin.config('SET', 'maxmemory', '0').catch(() => undefined);
      admin.disconnect();
    }
  });

  it('is what openStore gives for store.type redis', async () => {
    const store = await openStore({
      type: 'redis',
      url: redis.url,
      path: 'unused',
      retentionDays: 30,
      ledgerHours: 120,
      claimLeaseSeconds: 300,
      redisOptions: { connectionName: 'mail-guard-test' },
    });
    opened.push(store);
    const record = makeRecord();
    await store.put(record, body());
    expect(await store.get(record.id)).toEqual(record);
    await store.ping();
  });

  it('fails to open, fast, when nothing listens', async () => {
    const port = await freePort();
    const result = await settle(openRedisStore({ url: `redis://127.0.0.1:${port}` }));
    expect(result.error).toBeInstanceOf(StoreUnavailableError);
  });

  it('answers StoreUnavailableError within the command timeout when Redis stops answering', async () => {
    const redis = (await startRedisServer())!;
    try {
      const store = await open(redis.url);
      const record = makeRecord();
      await store.put(record, body());
      await redis.freeze();
      const get = await settle(store.get(record.id));
      const put = await settle(store.put(makeRecord(), body()));
      process.stderr.write(`redis frozen: get ${get.ms} ms, put ${put.ms} ms to fail (command timeout 1000 ms)\n`);
      expect(get.error).toBeInstanceOf(StoreUnavailableError);
      expect(put.error).toBeInstanceOf(StoreUnavailableError);
      await redis.thaw();
      expect(await store.get(record.id)).toEqual(record);
    } finally {
      await redis.stop();
    }
  });

  it('warns at open when Redis is not set up to keep held mail', async () => {
    const redis = (await startRedisServer())!;
    const admin = new Redis(redis.url);
    const warnings: string[] = [];
    try {
      await admin.config('SET', 'appendonly', 'no');
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      opened.push(await openRedisStore({ url: redis.url, onWarning: (w) => warnings.push(w) }));
    } finally {
      admin.disconnect();
      // A clean shutdown would wait for the AOF rewrite the CONFIG SET started.
      await redis.kill();
      await redis.stop();
    }
    expect(warnings).toHaveLength(2);
    expect(warnings.join('\n')).toMatch(/appendonly.*\n.*noeviction/s);
  });
});
