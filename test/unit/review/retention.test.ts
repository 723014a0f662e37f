import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MessageStore } from '../../../src/store/message-store.js';
import { openStore } from '../../../src/store/open-store.js';
import { startRetention } from '../../../src/review/retention.js';
import { body, DAY_MS, makeRecord } from '../../helpers/store-records.js';

function fakeStore(purge: (olderThan: Date) => Promise<number>): MessageStore {
  return { purge } as unknown as MessageStore;
}

/** What the retention logs; `next(level)` resolves at its next line of that level. */
function recordingLogger() {
  const lines = { info: [] as unknown[], warn: [] as unknown[] };
  const waiting: Array<() => void> = [];
  const log = (level: 'info' | 'warn') => (o: unknown) => {
    lines[level].push(o);
    for (const wake of waiting.splice(0)) wake();
  };
  const next = (level: 'info' | 'warn'): Promise<unknown> => {
    const seen = lines[level].length;
    return new Promise((resolve) => {
      const check = () => (lines[level].length > seen ? resolve(lines[level][seen]) : waiting.push(check));
      check();
    });
  };
  return { logger: { info: log('info'), warn: log('warn') }, lines, next };
}

describe('startRetention', () => {
  // The interval is the retention's own clock: fake timers step it, nothing waits for it.
  afterEach(() => {
    vi.useRealTimers();
  });

  it('purges at start with the retention cut-off, then on every interval, until stopped', async () => {
    vi.useFakeTimers();
    const calls: Date[] = [];
    const retention = startRetention(
      fakeStore(async (d) => (calls.push(d), 0)),
      30,
      undefined,
      20,
    );
    expect(calls).toHaveLength(1);
    expect(calls[0]!.getTime()).toBe(Date.now() - 30 * DAY_MS);
    await vi.advanceTimersByTimeAsync(19);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(20);
    expect(calls).toHaveLength(3);
    retention.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60);
    expect(calls).toHaveLength(3);
  });

  it('a purge still running when the next tick comes is not started twice', async () => {
    vi.useFakeTimers();
    let finish!: (removed: number) => void;
    let calls = 0;
    const retention = startRetention(
      fakeStore(() => (calls++, new Promise<number>((resolve) => (finish = resolve)))),
      30,
      undefined,
      20,
    );
    await vi.advanceTimersByTimeAsync(60);
    expect(calls).toBe(1);
    finish(0);
    await vi.advanceTimersByTimeAsync(20);
    expect(calls).toBe(2);
    retention.stop();
  });

  it('logs a failed purge and tries again at the next tick', async () => {
    vi.useFakeTimers();
    const { logger, lines, next } = recordingLogger();
    let n = 0;
    const retention = startRetention(
      fakeStore(async () => {
        if (++n === 1) throw new Error('disk on fire');
        return 3;
      }),
      7,
      logger as never,
      20,
    );
    expect(await next('warn')).toMatchObject({ err: { message: 'disk on fire' } });
    expect(lines.info).toEqual([]);
    const removed = next('info');
    await vi.advanceTimersByTimeAsync(20);
    expect(await removed).toMatchObject({ removed: 3 });
    retention.stop();
    expect(lines.warn).toHaveLength(1);
  });

  it('never removes held or approved records, however old (real file store)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mail-guard-retention-'));
    try {
      const store = await openStore({ type: 'file', path: dir, url: 'redis://unused', retentionDays: 30, ledgerHours: 120, claimLeaseSeconds: 300 });
      const old = Date.now() - 400 * DAY_MS;
      const held = makeRecord({ at: old, status: 'held' });
      const approved = makeRecord({ at: old, status: 'approved' });
      const captured = makeRecord({ at: old, status: 'captured' });
      for (const r of [held, approved, captured]) await store.put(r, body());
      // The real store's purge, watched: the sweep at start is over when the purge it started settles.
      let settled!: (outcome: number | Error) => void;
      const swept = new Promise<number | Error>((resolve) => (settled = resolve));
      const watched = {
        purge: (...args: Parameters<MessageStore['purge']>) => {
          const purge = store.purge(...args);
          purge.then(settled, settled);
          return purge;
        },
      } as unknown as MessageStore;
      const retention = startRetention(watched, 30);
      expect(await swept).toBe(1);
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
