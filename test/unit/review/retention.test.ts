import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MessageStore } from '../../../src/store/message-store.js';
import { openStore } from '../../../src/store/open-store.js';
import { startRetention } from '../../../src/review/retention.js';
import { body, DAY_MS, makeRecord } from '../../helpers/store-records.js';

function fakeStore(purge: (olderThan: Date) => Promise<number>): MessageStore {
  return { purge } as unknown as MessageStore;
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(condition()).toBe(true);
}

describe('startRetention', () => {
  it('purges at start with the retention cut-off, then on every interval, until stopped', async () => {
    const calls: Date[] = [];
    const retention = startRetention(fakeStore(async (d) => (calls.push(d), 0)), 30, undefined, 20);
    await until(() => calls.length >= 1);
    expect(Math.abs(calls[0]!.getTime() - (Date.now() - 30 * DAY_MS))).toBeLessThan(1000);
    await until(() => calls.length >= 3);
    retention.stop();
    const stoppedAt = calls.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(calls.length).toBe(stoppedAt);
  });

  it('logs a failed purge and tries again at the next tick', async () => {
    const warnings: unknown[] = [];
    const infos: unknown[] = [];
    let n = 0;
    const logger = { warn: (o: unknown) => warnings.push(o), info: (o: unknown) => infos.push(o) };
    const retention = startRetention(
      fakeStore(async () => {
        if (++n === 1) throw new Error('disk on fire');
        return 3;
      }),
      7,
      logger as never,
      20,
    );
    await until(() => infos.length >= 1);
    retention.stop();
    expect(warnings).toHaveLength(1);
    expect(infos[0]).toMatchObject({ removed: 3 });
  });

  it('never removes held or approved records, however old (real file store)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mail-guard-retention-'));
    try {
      const store = await openStore({ type: 'file', path: dir, url: 'redis://unused', retentionDays: 30, ledgerHours: 120 });
      const old = Date.now() - 400 * DAY_MS;
      const held = makeRecord({ at: old, status: 'held' });
      const approved = makeRecord({ at: old, status: 'approved' });
      const captured = makeRecord({ at: old, status: 'captured' });
      for (const r of [held, approved, captured]) await store.put(r, body());
      const retention = startRetention(store, 30);
      for (let i = 0; i < 100 && (await store.get(captured.id)) !== null; i++) await new Promise((r) => setTimeout(r, 10));
      retention.stop();
      expect(await store.get(captured.id)).toBeNull();
      expect((await store.get(held.id))?.status).toBe('held');
      expect((await store.get(approved.id))?.status).toBe('approved');
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
