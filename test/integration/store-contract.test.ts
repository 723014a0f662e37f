// One contract, both stores: everything the proxy and the admin API rely on
// from a MessageStore, run against the file store (temp dir) and the Redis
// store (a real redis-server on its own port). Store-specific faults live in
// file-store.test.ts and redis-store.test.ts.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFileStore } from '../../src/store/file-store.js';
import { StoreConflictError, type ListQuery, type MessageStore } from '../../src/store/message-store.js';
import { RECORD_STATUSES, type MessageRecord, type RecordStatus } from '../../src/store/record.js';
import { openRedisStore } from '../../src/store/redis-store.js';
import { UNDECIDED } from '../../src/review/lifecycle.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { within } from '../helpers/within.js';
import { Redis } from 'ioredis';
import { verifyChain, type AuditEntry } from '../../src/store/audit-chain.js';
import { breakerContract } from '../helpers/breaker-contract.js';
import { binaryChunks, body, DAY_MS, entry, expectConflict, lease, makeRecord } from '../helpers/store-records.js';

interface StoreUnderTest {
  readonly store: MessageStore;
  /** Another instance on the same backend (directory, Redis prefix), as a second proxy would open it. */
  sibling(): Promise<MessageStore>;
  cleanup(): Promise<void>;
  /** A period for the notice marks that passMarkPeriod can see out. */
  readonly markPeriodSeconds: number;
  /** Resolves once the mark on `key` (set with markPeriodSeconds) has expired. */
  passMarkPeriod(key: string): Promise<void>;
}

const redis = await startRedisServer();
afterAll(async () => {
  await redis?.stop();
});

storeContract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mail-guard-store-'));
  // The marks expire by an injected clock: an hour passes when the test says so.
  let skipped = 0;
  const marksClock = () => Date.now() + skipped;
  const store = await openFileStore(dir, { marksClock });
  return {
    store,
    sibling: () => openFileStore(dir, { marksClock }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
    markPeriodSeconds: 3600,
    passMarkPeriod: async () => {
      skipped += 3600_000 + 1;
    },
  };
});

storeContract(
  'redis',
  async () => {
    const keyPrefix = `t-${randomBytes(6).toString('hex')}`;
    const store = await openRedisStore({ url: redis!.url, keyPrefix });
    return {
      store,
      sibling: () => openRedisStore({ url: redis!.url, keyPrefix }),
      cleanup: async () => undefined,
      // Redis expires the mark itself (PX): a short period, and its keyspace event says when.
      markPeriodSeconds: 0.3,
      passMarkPeriod: (key) => redisKeyExpired(`{${keyPrefix}}:mark:${key}`),
    };
  },
  !redis,
);

/** Resolves when Redis reports the key expired (keyspace notifications, "Ex"). */
async function redisKeyExpired(key: string): Promise<void> {
  const admin = new Redis(redis!.url);
  const listener = new Redis(redis!.url);
  try {
    await admin.config('SET', 'notify-keyspace-events', 'Ex');
    const expired = new Promise<void>((resolve) => listener.on('message', (_channel: string, name: string) => name === key && resolve()));
    await listener.subscribe('__keyevent@0__:expired');
    // Already gone before the subscription: nothing more to wait for.
    if ((await admin.exists(key)) === 0) return;
    await within(expired, 5000, `expiry of ${key}`);
  } finally {
    admin.disconnect();
    listener.disconnect();
  }
}

async function listAll(store: MessageStore, status: RecordStatus | undefined, limit: number): Promise<{ ids: string[]; pageSizes: number[] }> {
  const ids: string[] = [];
  const pageSizes: number[] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 100; guard++) {
    const page = await store.list({ status, limit, cursor });
    ids.push(...page.records.map((r) => r.id));
    pageSizes.push(page.records.length);
    if (page.nextCursor === null) return { ids, pageSizes };
    cursor = page.nextCursor;
  }
  throw new Error('paging did not end');
}

function storeContract(name: string, openStoreUnderTest: () => Promise<StoreUnderTest>, skip = false): void {
  describe.skipIf(skip)(`MessageStore contract: ${name}`, () => {
    let under: StoreUnderTest;
    let store: MessageStore;
    const siblings: MessageStore[] = [];

    beforeEach(async () => {
      under = await openStoreUnderTest();
      store = under.store;
    });
    afterEach(async () => {
      await store.close();
      for (const sibling of siblings.splice(0)) await sibling.close();
      await under.cleanup();
    });

    async function sibling(): Promise<MessageStore> {
      const opened = await under.sibling();
      siblings.push(opened);
      return opened;
    }

    async function putHeld(overrides: Parameters<typeof makeRecord>[0] = {}): Promise<MessageRecord> {
      const record = makeRecord(overrides);
      await store.put(record, body());
      return record;
    }

    it('round-trips a record and a 2 MB binary body written in uneven chunks', async () => {
      const chunks = binaryChunks();
      const record = makeRecord({ size: Buffer.concat(chunks).length });
      await store.put(record, chunks);
      expect(await store.get(record.id)).toEqual(record);
      const raw = await store.raw(record.id);
      expect(raw?.equals(Buffer.concat(chunks))).toBe(true);
      await store.ping();
    });

    it('answers null for unknown and malformed ids without touching anything else', async () => {
      await putHeld();
      for (const id of [makeRecord().id, '../records', '', 'x'.repeat(26), '01ARZ3NDEKTSV4RRFFQ69G5FA/']) {
        expect(await store.get(id)).toBeNull();
        expect(await store.raw(id)).toBeNull();
      }
      await expectConflict(store.transition('../../etc', { from: ['held'], to: 'approved', entry: entry('approve') }), null);
    });

    it('refuses to overwrite an existing id', async () => {
      const record = await putHeld();
      await expectConflict(store.put({ ...record, status: 'captured' }, body('other')), 'held');
      expect((await store.get(record.id))?.status).toBe('held');
      expect((await store.raw(record.id))?.toString()).toBe(body()[0]!.toString());
    });

    it('lists newest first, filters by status and pages with a cursor (120 records, limit 50)', async () => {
      const base = Date.now() - 10 * DAY_MS;
      const records: MessageRecord[] = [];
      for (let i = 0; i < 120; i++) {
        // Ten of them share one millisecond: paging must neither skip nor repeat those.
        const at = i < 10 ? base + 500_000 : base + i * 1000;
        records.push(makeRecord({ at, status: i % 3 === 0 ? 'held' : i % 3 === 1 ? 'captured' : 'failed' }));
      }
      // Insertion order must not matter.
      for (const record of [...records].sort(() => Math.random() - 0.5)) await store.put(record, body());
      const newestFirst = (rs: MessageRecord[]): string[] =>
        [...rs].sort((a, b) => Date.parse(b.receivedAt) - Date.parse(a.receivedAt) || (a.id < b.id ? 1 : -1)).map((r) => r.id);

      const all = await listAll(store, undefined, 50);
      expect(all.pageSizes).toEqual([50, 50, 20]);
      expect(all.ids).toEqual(newestFirst(records));

      const held = await listAll(store, 'held', 15);
      expect(held.ids).toEqual(newestFirst(records.filter((r) => r.status === 'held')));
      expect(held.pageSizes).toEqual([15, 15, 10]);

      const first = await store.list({ status: 'captured', limit: 50 });
      expect(first.records.every((r) => r.status === 'captured')).toBe(true);
      expect(first.records).toHaveLength(40);
      expect(first.nextCursor).toBeNull();
      expect((await store.list({ status: 'approved', limit: 10 })).records).toEqual([]);
    });

    it('filters by verdict action, rule, violation, envelope sender and free text, newest first, paging with a cursor', async () => {
      const base = Date.now() - DAY_MS;
      const verdict = (action: string, rule: string, violation: boolean) => ({ action, rule, violation, reason: `${action} by ${rule}` });
      const spec: Array<Partial<MessageRecord>> = [
        { verdict: verdict('quarantine', 'default', true), subject: 'Spring campaign — 春のキャンペーン' },
        { verdict: verdict('split', 'newsletter', true), subject: 'Members newsletter', envelope: { mailFrom: 'News@Example.co.jp', rcptTo: ['a@x.example'] } },
        {
          verdict: verdict('pass', 'default', false),
          subject: 'Invoice 42',
          from: 'billing@example.co.jp',
          envelope: { mailFrom: 'billing@example.co.jp', rcptTo: [] },
        },
        { verdict: verdict('quarantine', 'newsletter', true), subject: null, envelope: { mailFrom: 'news@example.co.jp.evil.example', rcptTo: [] } },
        { verdict: null, subject: 'no verdict', status: 'failed' },
        { verdict: verdict('split', 'newsletter', true), subject: 'ｷｬﾝﾍﾟｰﾝ half-width', status: 'captured' },
      ];
      const records: MessageRecord[] = [];
      // Three rounds of the six kinds, each received a second apart: 18 records.
      for (let round = 0; round < 3; round++) {
        for (const [i, overrides] of spec.entries()) records.push(await putHeld({ at: base + (round * spec.length + i) * 1000, ...overrides }));
      }
      const newestFirst = (rs: MessageRecord[]) => rs.map((r) => r.id).reverse();
      const ids = async (query: Omit<ListQuery, 'limit'>, limit = 4) => {
        const out: string[] = [];
        let cursor: string | undefined;
        for (let guard = 0; guard < 50; guard++) {
          const page = await store.list({ ...query, limit, cursor });
          expect(page.records.length).toBeLessThanOrEqual(limit);
          out.push(...page.records.map((r) => r.id));
          if (page.nextCursor === null) return out;
          cursor = page.nextCursor;
        }
        throw new Error('paging did not end');
      };
      const where = (test: (r: MessageRecord) => boolean) => newestFirst(records.filter(test));

      expect(await ids({ action: 'split' })).toEqual(where((r) => r.verdict?.action === 'split'));
      expect(await ids({ action: 'split' })).toHaveLength(6);
      expect(await ids({ rule: 'newsletter' })).toEqual(where((r) => r.verdict?.rule === 'newsletter'));
      expect(await ids({ violation: false })).toEqual(where((r) => r.verdict?.violation === false));
      expect(await ids({ violation: true }, 50)).toHaveLength(12);
      // Exact address, any case: not the look-alike that merely starts with it.
      expect(await ids({ sender: 'NEWS@example.CO.JP' })).toEqual(where((r) => r.envelope.mailFrom.toLowerCase() === 'news@example.co.jp'));
      expect(await ids({ sender: 'NEWS@example.CO.JP' })).toHaveLength(12);
      // Free text: subject, From and envelope sender; full-width and half-width forms find the usual ones.
      expect(await ids({ text: 'ＳＰＲＩＮＧ' })).toEqual(where((r) => r.subject?.startsWith('Spring') === true));
      expect(await ids({ text: 'キャンペーン' })).toEqual(where((r) => r.subject?.includes('ャンペ') === true || r.subject?.includes('ｬﾝﾍﾟ') === true));
      expect(await ids({ text: 'キャンペーン' })).toHaveLength(6);
      expect(await ids({ text: 'BILLING@' })).toEqual(where((r) => r.from === 'billing@example.co.jp'));
      expect(await ids({ text: 'evil' })).toEqual(where((r) => r.envelope.mailFrom.endsWith('evil.example')));
      expect(await ids({ text: 'no such words' })).toEqual([]);
      // Combined with each other and with the status index.
      expect(await ids({ status: 'captured', action: 'split', rule: 'newsletter' }, 2)).toEqual(
        where((r) => r.status === 'captured' && r.verdict?.action === 'split'),
      );
      expect(await ids({ status: 'held', action: 'split', sender: 'news@example.co.jp', text: 'members' }, 1)).toHaveLength(3);
      expect(await ids({ status: 'failed', action: 'quarantine' })).toEqual([]);

      // A status alone (or nothing) still counts what it read.
      const plain = await store.list({ limit: 5 });
      expect(plain.scanned).toBe(5);
      expect(plain.records.map((r) => r.id)).toEqual(newestFirst(records).slice(0, 5));
    });

    it('bounds how many records one filtered page reads, and continues from its cursor', async () => {
      const base = Date.now() - DAY_MS;
      const records: MessageRecord[] = [];
      for (let i = 0; i < 30; i++) {
        const verdict = { action: i % 10 === 0 ? 'reject' : 'pass', rule: 'default', violation: i % 10 === 0, reason: 'r' };
        records.push(await putHeld({ at: base + i * 1000, verdict }));
      }
      const rejected = records
        .filter((r) => r.verdict?.action === 'reject')
        .map((r) => r.id)
        .reverse();
      const first = await store.list({ action: 'reject', limit: 10, maxScan: 7 });
      // The newest seven hold no reject (indexes 29..23): an empty page that says where to go on.
      expect(first).toEqual({ records: [], nextCursor: expect.any(String), scanned: 7 });
      const pages = [first];
      while (pages.at(-1)!.nextCursor !== null && pages.length < 20) {
        pages.push(await store.list({ action: 'reject', limit: 10, maxScan: 7, cursor: pages.at(-1)!.nextCursor! }));
      }
      expect(pages.flatMap((p) => p.records.map((r) => r.id))).toEqual(rejected);
      expect(pages.map((p) => p.scanned)).toEqual([7, 7, 7, 7, 2]);
      expect(pages.reduce((n, p) => n + p.scanned, 0)).toBe(30);
      // A page that fills before the bound stops there.
      const full = await store.list({ action: 'pass', limit: 3, maxScan: 7 });
      expect(full.records.map((r) => r.id)).toEqual(
        records
          .slice(-3)
          .map((r) => r.id)
          .reverse(),
      );
      expect(full.scanned).toBe(3);
      expect(full.nextCursor).not.toBeNull();
      const rest = await store.list({ action: 'pass', limit: 3, maxScan: 7, cursor: full.nextCursor! });
      expect(rest.records.map((r) => r.id)).toEqual(
        records
          .slice(-6, -3)
          .map((r) => r.id)
          .reverse(),
      );
    });

    it('finds the oldest record of a status', async () => {
      expect(await store.oldest('held')).toBeNull();
      const now = Date.now();
      const oldestHeld = await putHeld({ at: now - 5 * 3600_000 });
      await putHeld({ at: now - 3600_000 });
      const olderCaptured = await putHeld({ at: now - 9 * 3600_000, status: 'captured' });
      expect(await store.oldest('held')).toEqual(oldestHeld);
      expect(await store.oldest('captured')).toEqual(olderCaptured);
      await store.transition(oldestHeld.id, { from: ['held'], to: 'approved', entry: entry('approve') });
      expect((await store.oldest('held'))?.receivedAt).toBe(new Date(now - 3600_000).toISOString());
      expect((await store.oldest('approved'))?.id).toBe(oldestHeld.id);
      expect(await store.oldest('failed')).toBeNull();
    });

    it('rejects a bad limit, cursor or status as the caller’s mistake, changing nothing', async () => {
      await expect(store.list({ limit: 0 })).rejects.toBeInstanceOf(RangeError);
      await expect(store.list({ limit: 501 })).rejects.toBeInstanceOf(RangeError);
      await expect(store.list({ limit: 10, cursor: '../x' })).rejects.toBeInstanceOf(RangeError);
      for (const bad of [{ maxScan: 0 }, { maxScan: 50_001 }, { text: '' }, { sender: 'x'.repeat(321) }, { violation: 'yes' as unknown as boolean }]) {
        await expect(store.list({ limit: 10, ...bad }), JSON.stringify(bad)).rejects.toBeInstanceOf(RangeError);
      }
      await expect(store.put(makeRecord({ status: 'bogus' as RecordStatus }), body())).rejects.toBeInstanceOf(RangeError);
      const record = await putHeld();
      await expect(store.transition(record.id, { from: ['held'], to: 'bogus' as RecordStatus, entry: entry('x') })).rejects.toBeInstanceOf(RangeError);
      expect(await store.get(record.id)).toEqual(record);
      expect((await store.list({ status: 'held', limit: 5 })).records.map((r) => r.id)).toEqual([record.id]);
    });

    it('transitions only from the allowed statuses, and moves the record between status lists', async () => {
      const record = await putHeld();
      const approved = await store.transition(record.id, { from: ['held'], to: 'approved', entry: entry('approve', 'ops-bob') });
      expect(approved.status).toBe('approved');
      expect(approved.history.map((h) => h.action)).toEqual(['held', 'approve']);
      expect(await store.get(record.id)).toEqual(approved);
      await expectConflict(store.transition(record.id, { from: ['held'], to: 'discarded', entry: entry('discard') }), 'approved');
      expect((await store.list({ status: 'held', limit: 10 })).records).toEqual([]);
      expect((await store.list({ status: 'approved', limit: 10 })).records.map((r) => r.id)).toEqual([record.id]);
      await expectConflict(store.transition(makeRecord().id, { from: ['held'], to: 'approved', entry: entry('approve') }), null);
    });

    it('appends history without changing the status', async () => {
      const record = await putHeld();
      await store.appendHistory(record.id, entry('view-raw', 'ops-alice', Date.now(), { note: 'looked' }));
      await store.appendHistory(record.id, entry('note', 'ops-bob'));
      const after = await store.get(record.id);
      expect(after?.status).toBe('held');
      expect(after?.history.map((h) => [h.action, h.actor, h.note])).toEqual([
        ['held', 'mail-guard', null],
        ['view-raw', 'ops-alice', 'looked'],
        ['note', 'ops-bob', null],
      ]);
      await expectConflict(store.appendHistory(makeRecord().id, entry('note')), null);
    });

    it('lets exactly one of 20 concurrent claims win', async () => {
      const record = await putHeld({ status: 'approved' });
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => store.claimRelease(record.id, ['approved'], lease())));
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      expect((won[0] as PromiseFulfilledResult<MessageRecord>).value).toEqual(record);
      for (const r of results.filter((x) => x.status === 'rejected')) {
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(StoreConflictError);
        expect(((r as PromiseRejectedResult).reason as StoreConflictError).current).toBe('releasing');
      }
      // While claimed nothing else may change the status under the release.
      await expectConflict(store.transition(record.id, { from: ['approved'], to: 'discarded', entry: entry('discard') }), 'releasing');
    });

    it('refuses claims on released or discarded records and from statuses not allowed', async () => {
      const discarded = await putHeld({ status: 'discarded' });
      await expectConflict(store.claimRelease(discarded.id, ['held', 'approved', 'discarded'], lease()), 'discarded');
      const held = await putHeld();
      await expectConflict(store.claimRelease(held.id, ['approved'], lease()), 'held');
      await expectConflict(store.claimRelease(makeRecord().id, ['held'], lease()), null);
      // A refused claim left nothing behind.
      await store.claimRelease(held.id, ['held'], lease());
    });

    it('gives a claim back with abandonRelease, after which a new claim works', async () => {
      const record = await putHeld({ status: 'approved' });
      await expectConflict(store.abandonRelease(record.id, entry('release-failed')), 'approved');
      await store.claimRelease(record.id, ['approved'], lease());
      await store.abandonRelease(record.id, entry('release-failed', 'ops-bob', Date.now(), { upstreamReply: '451 4.4.1 try later' }));
      const after = await store.get(record.id);
      expect(after?.status).toBe('approved');
      expect(after?.history.at(-1)).toMatchObject({ action: 'release-failed', upstreamReply: '451 4.4.1 try later' });
      expect((await store.claimRelease(record.id, ['approved'], lease())).id).toBe(record.id);
    });

    it('completes a release once: status released, history with the upstream reply, no later claim', async () => {
      const record = await putHeld({ status: 'approved' });
      await expectConflict(store.completeRelease(record.id, entry('release')), 'approved');
      await store.claimRelease(record.id, ['approved'], lease());
      const released = await store.completeRelease(record.id, entry('release', 'ops-bob', Date.now(), { upstreamReply: '250 2.0.0 queued' }));
      expect(released.status).toBe('released');
      expect(released.history.at(-1)).toMatchObject({ action: 'release', upstreamReply: '250 2.0.0 queued' });
      expect(await store.get(record.id)).toEqual(released);
      await expectConflict(store.claimRelease(record.id, ['approved', 'released'], lease()), 'released');
      await expectConflict(store.completeRelease(record.id, entry('release')), 'released');
      await expectConflict(store.abandonRelease(record.id, entry('release-failed')), 'released');
      expect((await store.list({ status: 'released', limit: 5 })).records.map((r) => r.id)).toEqual([record.id]);
    });

    it('delay: answers due delayed records oldest releaseAt first, without claimed, undue or discarded ones, and refuses bad queries', async () => {
      const now = Date.now();
      const at = (s: number) => new Date(now + s * 1000).toISOString();
      const late = await putHeld({ status: 'delayed', releaseAt: at(-1) });
      const early = await putHeld({ status: 'delayed', releaseAt: at(-30) });
      const notYet = await putHeld({ status: 'delayed', releaseAt: at(60) });
      const claimed = await putHeld({ status: 'delayed', releaseAt: at(-20) });
      const discarded = await putHeld({ status: 'delayed', releaseAt: at(-10) });
      await putHeld({ status: 'held', releaseAt: at(-40) });
      await store.claimRelease(claimed.id, ['delayed'], lease());
      await store.transition(discarded.id, { from: ['delayed'], to: 'discarded', entry: entry('discard') });

      const due = await store.dueForRelease(new Date(now), 10);
      expect(due.map((r) => r.id)).toEqual([early.id, late.id]);
      expect(due[0]).toEqual(early);
      expect((await store.dueForRelease(new Date(now), 1)).map((r) => r.id)).toEqual([early.id]);
      expect((await store.dueForRelease(new Date(now + 61_000), 10)).map((r) => r.id)).toEqual([early.id, late.id, notYet.id]);
      // Another instance on the same backend sees the same.
      expect((await (await sibling()).dueForRelease(new Date(now), 10)).map((r) => r.id)).toEqual([early.id, late.id]);

      // A claim given back puts the record back among the due ones.
      await store.abandonRelease(claimed.id, entry('release-failed', 'mail-guard'));
      expect((await store.dueForRelease(new Date(now), 10)).map((r) => r.id)).toEqual([early.id, claimed.id, late.id]);
      // Released: gone for good.
      await store.claimRelease(early.id, ['delayed'], lease());
      await store.completeRelease(early.id, entry('release', 'mail-guard'));
      expect((await store.dueForRelease(new Date(now), 10)).map((r) => r.id)).toEqual([claimed.id, late.id]);

      for (const [when, limit] of [
        [new Date(NaN), 10],
        [new Date(now), 0],
        [new Date(now), 1001],
        [new Date(now), 1.5],
      ] as const) {
        await expect(store.dueForRelease(when, limit)).rejects.toBeInstanceOf(RangeError);
        await expect(store.expiredClaims(when, limit)).rejects.toBeInstanceOf(RangeError);
      }
      await expect(store.claimRelease(late.id, ['delayed'], new Date(NaN))).rejects.toBeInstanceOf(RangeError);
    });

    it('claim lease: renewed by its holder, listed once expired (never when released), given back only when expired', async () => {
      const now = Date.now();
      const running = await putHeld({ status: 'approved' });
      const dead = await putHeld({ status: 'delayed', releaseAt: new Date(now - 5000).toISOString() });
      const done = await putHeld({ status: 'approved' });
      await store.claimRelease(running.id, ['approved'], lease(-10));
      await store.claimRelease(dead.id, ['delayed'], lease(-60));
      await store.claimRelease(done.id, ['approved'], lease(-60));
      await store.completeRelease(done.id, entry('release', 'ops-bob'));

      let expired = await store.expiredClaims(new Date(now), 10);
      // Oldest lease first; the released one is not stuck.
      expect(expired.map((c) => c.record.id)).toEqual([dead.id, running.id]);
      expect(expired[0]!.record.status).toBe('delayed');
      expect(expired[0]!.claim).toMatchObject({ pid: process.pid, host: expect.any(String) });
      expect(Date.parse(expired[0]!.claim.leaseUntil!)).toBeLessThan(now - 50_000);
      expect(Date.parse(expired[0]!.claim.at)).toBeGreaterThanOrEqual(now - 1000);
      expect((await store.expiredClaims(new Date(now), 1)).map((c) => c.record.id)).toEqual([dead.id]);
      // Claimed, even expired, it is not due: the scheduler never takes a claimed record.
      expect(await store.dueForRelease(new Date(now), 10)).toEqual([]);

      // The holder renews: no longer expired.
      await store.renewRelease(running.id, lease(60));
      expired = await store.expiredClaims(new Date(now), 10);
      expect(expired.map((c) => c.record.id)).toEqual([dead.id]);
      expect(Date.parse((await store.expiredClaims(new Date(now + 120_000), 10)).find((c) => c.record.id === running.id)!.claim.leaseUntil!)).toBeGreaterThan(
        now + 50_000,
      );
      // A lease that has not run out is not given back; nor is a record without a claim, or a released one.
      await expectConflict(store.retryExpiredClaim(running.id, entry('retry-claim'), new Date(now)), 'releasing');
      await expectConflict(store.retryExpiredClaim(done.id, entry('retry-claim'), new Date(now)), 'released');
      await expectConflict(store.renewRelease(done.id, lease(60)), 'released');
      const free = await putHeld();
      await expectConflict(store.retryExpiredClaim(free.id, entry('retry-claim'), new Date(now)), 'held');
      await expectConflict(store.renewRelease(free.id, lease(60)), 'held');
      await expectConflict(store.retryExpiredClaim(makeRecord().id, entry('retry-claim'), new Date(now)), null);

      // Given back by a person (from a sibling instance): status kept, history says so, due again, claimable again.
      const retried = await (await sibling()).retryExpiredClaim(dead.id, entry('retry-claim', 'ops-carol', now, { note: 'holder gone' }), new Date(now));
      expect(retried.status).toBe('delayed');
      expect(retried.history.at(-1)).toMatchObject({ action: 'retry-claim', actor: 'ops-carol', note: 'holder gone' });
      expect(await store.get(dead.id)).toEqual(retried);
      expect((await store.expiredClaims(new Date(now), 10)).map((c) => c.record.id)).toEqual([]);
      expect((await store.dueForRelease(new Date(now), 10)).map((r) => r.id)).toEqual([dead.id]);
      await expectConflict(store.retryExpiredClaim(dead.id, entry('retry-claim'), new Date(now)), 'delayed');
      await store.claimRelease(dead.id, ['delayed'], lease());
      expect(await store.dueForRelease(new Date(now), 10)).toEqual([]);
    });

    it('purges old decided records only: never held, approved, failed (refused after a 250, nobody decided yet), delayed (still to leave), or a release in flight', async () => {
      const old = Date.now() - 40 * DAY_MS;
      const oldOnes = new Map<RecordStatus, MessageRecord>();
      for (const status of RECORD_STATUSES) oldOnes.set(status, await putHeld({ at: old, status }));
      const inFlight = await putHeld({ at: old, status: 'captured' });
      await store.claimRelease(inFlight.id, ['captured'], lease());
      const recent = await putHeld({ status: 'discarded' });

      expect(await store.purge(new Date(Date.now() - 30 * DAY_MS), UNDECIDED)).toBe(3);
      for (const [status, record] of oldOnes) {
        const kept = status === 'held' || status === 'approved' || status === 'failed' || status === 'delayed';
        expect((await store.get(record.id))?.id ?? null, status).toBe(kept ? record.id : null);
        if (!kept) expect(await store.raw(record.id)).toBeNull();
      }
      expect(await store.get(inFlight.id)).not.toBeNull();
      expect(await store.get(recent.id)).not.toBeNull();
      const listed = (await store.list({ limit: 50 })).records.map((r) => r.id).sort();
      expect(listed).toEqual(
        [oldOnes.get('held')!.id, oldOnes.get('approved')!.id, oldOnes.get('failed')!.id, oldOnes.get('delayed')!.id, inFlight.id, recent.id].sort(),
      );
      expect((await store.list({ status: 'released', limit: 50 })).records).toEqual([]);
      expect(await store.purge(new Date(Date.now() - 30 * DAY_MS), UNDECIDED)).toBe(0);
    });

    it('knows when the oldest record of a status arrived', async () => {
      expect(await store.oldestReceivedAt('held')).toBeNull();
      const now = Date.now();
      await putHeld({ at: now - 3 * 3600_000 });
      await putHeld({ at: now - 3600_000 });
      await putHeld({ at: now - 5 * 3600_000, status: 'captured' });
      expect((await store.oldestReceivedAt('held'))?.getTime()).toBe(now - 3 * 3600_000);
      expect((await store.oldestReceivedAt('captured'))?.getTime()).toBe(now - 5 * 3600_000);
      expect(await store.oldestReceivedAt('failed')).toBeNull();
    });

    it('delivery ledger: remembers accepted recipients per digest (lower case), adds to them, forgets on completion', async () => {
      const digest = randomBytes(32).toString('hex');
      expect([...(await store.ledger.acceptedRecipients(digest))]).toEqual([]);
      await store.ledger.recordAccepted(digest, ['A@ext1.com']);
      await store.ledger.recordAccepted(digest, ['b@ext2.com', 'a@ext1.com']);
      await store.ledger.recordAccepted(digest, []);
      expect(store.ledger.mayHoldEntries).toBe(true);
      expect([...(await store.ledger.acceptedRecipients(digest))].sort()).toEqual(['a@ext1.com', 'b@ext2.com']);
      expect([...(await store.ledger.acceptedRecipients(randomBytes(32).toString('hex')))]).toEqual([]);
      await store.ledger.forget(digest);
      expect([...(await store.ledger.acceptedRecipients(digest))]).toEqual([]);
    });

    it('audit log: appends entries chained in order, durable across a reopen, and reads them back in pages', async () => {
      expect(await store.audit.read({ limit: 10 })).toEqual([]);
      const appended: AuditEntry[] = [];
      const actions = ['sign-in', 'view-raw', 'approve', 'release', 'discard'] as const;
      for (const [i, action] of actions.entries()) {
        appended.push(
          await store.audit.append({
            actor: i % 2 ? 'ops-bob' : 'ops-alice',
            action,
            target: i ? `01J${i}` : null,
            note: i === 4 ? 'a, "quoted"\nnote' : null,
          }),
        );
      }
      expect(appended.map((e) => [e.seq, e.action])).toEqual(actions.map((a, i) => [i + 1, a]));
      expect(appended[0]!.prev).toBe('0'.repeat(64));
      expect(appended[4]!.note).toBe('a, "quoted"\nnote');
      for (let i = 1; i < appended.length; i++) expect(appended[i]!.prev).toBe(appended[i - 1]!.hash);

      expect(await store.audit.read({ limit: 2 })).toEqual(appended.slice(0, 2));
      expect(await store.audit.read({ after: 2, limit: 2 })).toEqual(appended.slice(2, 4));
      expect(await store.audit.read({ after: 4, limit: 1000 })).toEqual(appended.slice(4));
      expect(await store.audit.read({ after: 5, limit: 10 })).toEqual([]);
      expect(verifyChain(await store.audit.read({ limit: 1000 }))).toMatchObject({ ok: true, count: 5 });

      // Another instance (a restart, a second proxy) sees the same log and continues it.
      await store.close();
      store = await under.sibling();
      expect(await store.audit.read({ limit: 10 })).toEqual(appended);
      expect(await store.audit.append({ actor: 'ops-alice', action: 'sign-out', target: null, note: null })).toMatchObject({ seq: 6, prev: appended[4]!.hash });
    });

    it('audit log: refuses bad entries and bad queries as the caller’s mistake, writing nothing', async () => {
      const ok = { actor: 'ops-alice', action: 'approve', target: null, note: null } as const;
      await expect(store.audit.append({ ...ok, action: 'delete' as 'approve' })).rejects.toThrow(RangeError);
      await expect(store.audit.append({ ...ok, actor: '' })).rejects.toThrow(RangeError);
      await expect(store.audit.append({ ...ok, note: 'x'.repeat(4001) })).rejects.toThrow(RangeError);
      for (const query of [{ limit: 0 }, { limit: 1001 }, { limit: 1.5 }, { after: -1, limit: 1 }, { after: 0.5, limit: 1 }]) {
        await expect(store.audit.read(query), JSON.stringify(query)).rejects.toThrow(RangeError);
      }
      expect(await store.audit.read({ limit: 10 })).toEqual([]);
    });

    it('audit log: concurrent appends from two store instances on one backend make one unbroken chain', async () => {
      const other = await sibling();
      const appends = Array.from({ length: 60 }, (_, i) =>
        (i % 2 ? other : store).audit.append({ actor: i % 2 ? 'ops-bob' : 'ops-alice', action: 'view-raw', target: `t${i}`, note: null }),
      );
      const appended = await Promise.all(appends);
      expect(appended.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      const log = await other.audit.read({ limit: 1000 });
      expect(verifyChain(log)).toMatchObject({ ok: true, count: 60 });
      // What each append resolved is exactly what was stored at its seq.
      for (const entry of appended) expect(log[entry.seq - 1]).toEqual(entry);
      expect(new Set(log.map((e) => e.target)).size).toBe(60);
    });

    breakerContract(() => store, sibling);
    it('marks: the first caller per key and period is told true, every other false, on every instance, until it expires', async () => {
      const period = under.markPeriodSeconds;
      const other = await sibling();
      expect(await store.marks.firstWithin('notice:campaign-a', period)).toBe(true);
      expect(await store.marks.firstWithin('notice:campaign-a', period)).toBe(false);
      expect(await other.marks.firstWithin('notice:campaign-a', period)).toBe(false);
      // Another key is its own period.
      expect(await other.marks.firstWithin('notice:campaign-b', period)).toBe(true);
      await under.passMarkPeriod('notice:campaign-a');
      expect(await other.marks.firstWithin('notice:campaign-a', period)).toBe(true);
      expect(await store.marks.firstWithin('notice:campaign-a', period)).toBe(false);
    });

    it('marks: of 40 concurrent callers on two instances exactly one is first', async () => {
      const other = await sibling();
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? other : store).marks.firstWithin('webhook:x:held:c1', 3600)));
      expect(answers.filter(Boolean)).toHaveLength(1);
    });

    it('marks: refuses a key with other characters and a period out of range', async () => {
      for (const key of ['', 'a b', 'notice:<x@y>', 'k'.repeat(201)]) await expect(store.marks.firstWithin(key, 60), key).rejects.toThrow(RangeError);
      for (const ttl of [0, -1, Number.NaN, 86_401]) await expect(store.marks.firstWithin('notice:ok', ttl), String(ttl)).rejects.toThrow(RangeError);
      expect(await store.marks.firstWithin('notice:ok', 60)).toBe(true);
    });

    it('counts records by status', async () => {
      expect(await store.countByStatus()).toEqual({ held: 0, approved: 0, released: 0, discarded: 0, captured: 0, failed: 0, delayed: 0 });
      for (let i = 0; i < 3; i++) await putHeld();
      await putHeld({ status: 'captured' });
      await putHeld({ status: 'delayed', releaseAt: new Date().toISOString() });
      const moved = await putHeld();
      await store.transition(moved.id, { from: ['held'], to: 'discarded', entry: entry('discard') });
      expect(await store.countByStatus()).toEqual({ held: 3, approved: 0, released: 0, discarded: 1, captured: 1, failed: 0, delayed: 1 });
    });
  });
}
