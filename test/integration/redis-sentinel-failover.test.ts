// The Redis store through Sentinel with real processes: a primary, replicas and
// three redis-sentinel. The primary is SIGKILLed; the store must fail closed
// (StoreUnavailableError, which SMTP answers 451 4.3.0) until Sentinel has
// promoted a replica, then find the new primary by itself, and nothing it
// acknowledged may be missing there. store.redisWaitReplicas is what makes the
// last part hold when the primary dies before replicating: the second group
// shows the loss without it.

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError, type MessageStore } from '../../src/store/message-store.js';
import { openRedisStore } from '../../src/store/redis-store.js';
import { startSentinelGroup, startTcpRelay, type SentinelGroup } from '../helpers/redis-sentinel.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { body, makeRecord } from '../helpers/store-records.js';
import { within } from '../helpers/within.js';

// Two replicas: after the failover one is left, so a store that waits for one replica keeps working.
const group = await startSentinelGroup({ replicas: 2 });
afterAll(async () => {
  await group?.stop();
});

const opened: MessageStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

/** A store through the group's sentinels, and a promise of its next reconnect (ioredis 'ready' after a lost connection). */
async function openThrough(
  g: SentinelGroup,
  waitReplicas: number,
  keyPrefix: string,
): Promise<{ store: MessageStore; reconnected: Promise<void>; warnings: string[] }> {
  const warnings: string[] = [];
  let reconnect!: () => void;
  const reconnected = new Promise<void>((resolve) => (reconnect = resolve));
  const store = await openRedisStore({
    url: 'redis://unused',
    keyPrefix,
    redisOptions: { sentinels: g.sentinels, name: g.name },
    replicaWait: { replicas: waitReplicas, timeoutMs: 250 },
    onReconnect: () => reconnect(),
    onWarning: (w) => warnings.push(w),
  });
  opened.push(store);
  return { store, reconnected, warnings };
}

const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => null,
    (e: unknown) => e,
  );

describe.skipIf(!group)('redis store through Sentinel: the primary killed', () => {
  const g = group!;

  it('answers StoreUnavailable while Sentinel promotes a replica, then works on the new primary with everything it acknowledged', async () => {
    // Three stores on one Redis, as three mail-guard instances: each must come back by itself.
    const prefix = `fo-${randomBytes(4).toString('hex')}`;
    const instances = [await openThrough(g, 1, prefix), await openThrough(g, 1, prefix), await openThrough(g, 1, prefix)];
    const store = instances[0]!.store;
    // The group's servers keep the default min-replicas-to-write 0: a primary left alone would take writes WAIT then refuses.
    expect(instances[0]!.warnings).toContainEqual(expect.stringContaining('min-replicas-to-write is 0, below store.redisWaitReplicas 1'));
    const acknowledged = Array.from({ length: 30 }, () => makeRecord({ status: 'held' }));
    for (const [i, record] of acknowledged.entries()) await instances[i % 3]!.store.put(record, body());
    await store.ledger.recordAccepted('digest-before', ['a@ext1.example']);

    const promotion = g.nextPromotion();
    let promoted = false;
    void promotion.then(() => (promoted = true));
    await g.killPrimary();

    // The window: every operation a message needs fails closed, none hangs until the promotion.
    const put = await rejection(store.put(makeRecord({ status: 'held' }), body()));
    const ledger = await rejection(store.ledger.acceptedRecipients('digest-before'));
    const breaker = await rejection(store.breakers.openFor('news@example.co.jp'));
    expect(promoted).toBe(false);
    expect(put).toBeInstanceOf(StoreUnavailableError);
    expect(ledger).toBeInstanceOf(StoreUnavailableError);
    expect(breaker).toBeInstanceOf(StoreUnavailableError);
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);

    const newPort = await within(promotion, 30_000, 'sentinel promotes a replica');
    expect(newPort).not.toBe(g.primary.port);
    await within(Promise.all(instances.map((i) => i.reconnected)), 15_000, 'every store reconnects to the promoted replica');
    // The other replica follows the new primary (WAIT there returns once it has synced).
    const admin = new Redis({ host: '127.0.0.1', port: newPort });
    try {
      expect(await within(admin.wait(1, 10_000), 11_000, 'the remaining replica syncs')).toBe(1);
    } finally {
      admin.disconnect();
    }

    for (const record of acknowledged) expect(await store.get(record.id)).toMatchObject({ id: record.id, status: 'held' });
    expect([...(await store.ledger.acceptedRecipients('digest-before'))]).toEqual(['a@ext1.example']);
    for (const { store: each } of instances) {
      const after = makeRecord({ status: 'held' });
      await each.put(after, body());
      expect(await each.get(after.id)).toMatchObject({ id: after.id, status: 'held' });
      await each.ping();
    }
  });
});

describe.skipIf(!group)('redis store through Sentinel: a primary that dies before replicating', () => {
  it('loses a write it acknowledged without redisWaitReplicas; with it the same write is refused, never acknowledged and lost', async () => {
    const g = (await startSentinelGroup({ replicas: 1 }))!;
    try {
      const prefix = `wait-${randomBytes(4).toString('hex')}`;
      const trusting = await openThrough(g, 0, prefix);
      expect(trusting.warnings).toEqual([]);
      const waiting = await openThrough(g, 1, prefix);
      const before = makeRecord({ status: 'held' });
      await waiting.store.put(before, body());

      g.partition(); // the primary's writes stop reaching the replica
      const unreplicated = makeRecord({ status: 'held' });
      await trusting.store.put(unreplicated, body()); // acknowledged by the primary alone
      const refused = makeRecord({ status: 'held' });
      const error = await rejection(waiting.store.put(refused, body()));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toContain('0 of 1 replica(s) confirmed it within 250 ms (store.redisWaitReplicas)');
      // Taken back on the primary: no record stays behind for the mailer's retry to duplicate.
      expect(await trusting.store.get(unreplicated.id)).toMatchObject({ id: unreplicated.id });
      expect(await trusting.store.get(refused.id)).toBeNull();
      // A claim no replica confirmed is given back, so the record is not stuck until its lease ends.
      const claim = await rejection(waiting.store.claimRelease(before.id, ['held'], new Date(Date.now() + 60_000)));
      expect(claim).toBeInstanceOf(StoreUnavailableError);
      await trusting.store.claimRelease(before.id, ['held'], new Date(Date.now() + 60_000));

      const promotion = g.nextPromotion();
      await g.killPrimary();
      await within(promotion, 30_000, 'sentinel promotes the replica');
      await within(Promise.all([trusting.reconnected, waiting.reconnected]), 15_000, 'both stores reconnect');

      expect(await waiting.store.get(before.id)).toMatchObject({ id: before.id, status: 'held' });
      // The 250 a mailer got for this one is now a lie: the record is gone.
      expect(await trusting.store.get(unreplicated.id)).toBeNull();
      // This one was answered 451: the mailer still has it and tries again.
      expect(await waiting.store.get(refused.id)).toBeNull();
    } finally {
      await g.stop();
    }
  });

  it('drops a connection that meets READONLY (a demoted primary), so the next command goes to the primary again', async () => {
    const g = (await startSentinelGroup({ replicas: 1 }))!;
    try {
      // Straight at the replica, as a client still connected to a primary that Sentinel demoted.
      let reconnect!: () => void;
      const reconnected = new Promise<void>((resolve) => (reconnect = resolve));
      const store = await openRedisStore({ url: g.replicas[0]!.url, keyPrefix: `ro-${randomBytes(4).toString('hex')}`, onReconnect: () => reconnect() });
      opened.push(store);
      const error = await rejection(store.put(makeRecord({ status: 'held' }), body()));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toMatch(/READONLY/);
      await within(reconnected, 10_000, 'reconnect after READONLY');
    } finally {
      await g.stop();
    }
  });
});

describe.skipIf(!group)('redis store: a command whose connection died', () => {
  it('is not sent again after the reconnect: its caller was already told the store is unavailable', async () => {
    const redis = (await startRedisServer())!;
    const relay = await startTcpRelay(redis.port);
    try {
      let reconnect!: () => void;
      const reconnected = new Promise<void>((resolve) => (reconnect = resolve));
      const store = await openRedisStore({
        url: `redis://127.0.0.1:${relay.port}`,
        keyPrefix: `nr-${randomBytes(4).toString('hex')}`,
        onReconnect: () => reconnect(),
      });
      opened.push(store);
      relay.cutRequests(); // the put leaves the client and never reaches Redis
      const record = makeRecord({ status: 'held' });
      expect(await rejection(store.put(record, body()))).toBeInstanceOf(StoreUnavailableError);
      relay.mend();
      relay.dropConnections(); // the connection the put went out on dies; ioredis dials again
      await within(reconnected, 10_000, 'reconnect through the relay');
      // Replayed, the put would now write a held record for a message its mailer was told to send again.
      await store.ping();
      expect(await store.get(record.id)).toBeNull();
    } finally {
      relay.close();
      await redis.stop();
    }
  });
});
