// The breaker part of the store contract (test/integration/store-contract.test.ts
// calls it inside each store's describe): what review/breaker.ts and the pipeline
// rely on from store.breakers, with the time of each violation given, so the
// window is shown to slide without waiting for it.

import { expect, it } from 'vitest';
import { breakerId } from '../../src/store/breaker-common.js';
import type { BreakerLimits, MessageStore } from '../../src/store/message-store.js';

const LIMITS: BreakerLimits = { violations: 3, windowSeconds: 600, action: 'quarantine' };
const T0 = Date.parse('2025-04-01T09:00:00.000Z');
const at = (seconds: number): Date => new Date(T0 + seconds * 1000);

export function breakerContract(store: () => MessageStore, sibling: () => Promise<MessageStore>): void {
  it('breakers: the violation that reaches the threshold inside the window opens it, once', async () => {
    const breakers = store().breakers;
    expect(await breakers.recordViolation('News@Example.co.jp', at(0), LIMITS)).toBeNull();
    expect(await breakers.recordViolation('news@example.co.jp', at(10), LIMITS)).toBeNull();
    expect(await breakers.openFor('news@example.co.jp')).toBeNull();
    const opened = await breakers.recordViolation('NEWS@example.co.jp', at(20), LIMITS);
    expect(opened).toEqual({
      id: breakerId('news@example.co.jp'),
      sender: 'news@example.co.jp',
      openedAt: at(20).toISOString(),
      violations: 3,
      windowSeconds: 600,
      action: 'quarantine',
    });
    expect(opened!.id).toMatch(/^[0-9a-f]{24}$/);
    // Any case finds it; a violation while open does not open it again.
    expect(await breakers.openFor('news@EXAMPLE.co.jp')).toEqual(opened);
    expect(await breakers.recordViolation('news@example.co.jp', at(30), LIMITS)).toBeNull();
    // Other senders are untouched.
    expect(await breakers.openFor('other@example.co.jp')).toBeNull();
    expect(await breakers.list()).toEqual([opened]);
  });

  it('breakers: the window slides: violations older than windowSeconds no longer count', async () => {
    const breakers = store().breakers;
    const sender = 'slide@example.co.jp';
    await breakers.recordViolation(sender, at(0), LIMITS);
    await breakers.recordViolation(sender, at(300), LIMITS);
    // The first one is exactly windowSeconds old: out of the window, so two count, not three.
    expect(await breakers.recordViolation(sender, at(600), LIMITS)).toBeNull();
    expect(await breakers.openFor(sender)).toBeNull();
    // 300, 600 and 899 are inside one window.
    expect(await breakers.recordViolation(sender, at(899), LIMITS)).toMatchObject({ violations: 3, openedAt: at(899).toISOString() });
    expect(await breakers.openFor(sender)).not.toBeNull();
  });

  it('breakers: reset closes it and forgets the window, so one new violation does not reopen it', async () => {
    const breakers = store().breakers;
    const sender = 'reset@example.co.jp';
    const limits = { ...LIMITS, action: 'tempfail' } as const;
    for (const s of [0, 1]) await breakers.recordViolation(sender, at(s), limits);
    const opened = await breakers.recordViolation(sender, at(2), limits);
    expect(opened).toMatchObject({ action: 'tempfail' });
    expect(await breakers.reset(opened!.id)).toEqual(opened);
    expect(await breakers.openFor(sender)).toBeNull();
    expect(await breakers.list()).toEqual([]);
    expect(await breakers.recordViolation(sender, at(3), limits)).toBeNull();
    expect(await breakers.recordViolation(sender, at(4), limits)).toBeNull();
    expect(await breakers.openFor(sender)).toBeNull();
    expect(await breakers.recordViolation(sender, at(5), limits)).not.toBeNull();
    // Unknown and malformed ids: null, nothing changed.
    expect(await breakers.reset(breakerId('nobody@example.co.jp'))).toBeNull();
    for (const id of ['', '../breakers', 'X'.repeat(24), opened!.id + '0']) expect(await breakers.reset(id)).toBeNull();
    expect(await breakers.list()).toHaveLength(1);
  });

  it('breakers: shared by two instances on one backend; concurrent violations open it exactly once', async () => {
    const a = store().breakers;
    const b = (await sibling()).breakers;
    const sender = 'shared@example.co.jp';
    const limits = { ...LIMITS, violations: 5 };
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).recordViolation(sender, at(i), limits)));
    const opened = results.filter((r) => r !== null);
    expect(opened).toHaveLength(1);
    // It records the violations in its window when it opened: the fifth opens it, but on the file store
    // the violations racing it from the other instance may already be in the log when it takes the lock.
    expect(opened[0]!.violations).toBeGreaterThanOrEqual(5);
    expect(opened[0]!.violations).toBeLessThanOrEqual(12);
    // Opened through either instance, seen by both; reset on one is seen by the other.
    expect(await a.openFor(sender)).toEqual(opened[0]);
    expect(await b.openFor(sender)).toEqual(opened[0]);
    expect(await b.reset(opened[0]!.id)).toEqual(opened[0]);
    expect(await a.openFor(sender)).toBeNull();
    expect(await a.list()).toEqual([]);
  });

  it('breakers: refuse a bad call as the caller’s mistake', async () => {
    const breakers = store().breakers;
    await expect(breakers.recordViolation('', at(0), LIMITS)).rejects.toThrow(RangeError);
    await expect(breakers.recordViolation('x@example.co.jp', new Date(NaN), LIMITS)).rejects.toThrow(RangeError);
    await expect(breakers.recordViolation('x@example.co.jp', at(0), { ...LIMITS, violations: 0 })).rejects.toThrow(RangeError);
    expect(await breakers.list()).toEqual([]);
  });
}
