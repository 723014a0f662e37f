import { describe, expect, it } from 'vitest';
import { AUTO_POOL_CAP, AUTO_SPLIT_CONCURRENCY, LEARNED_CAP_MS, PoolSizing, splitConcurrencyFor } from '../../../src/upstream/pool-sizing.js';
import { WaiterQueue } from '../../../src/upstream/waiter-queue.js';

describe('PoolSizing', () => {
  it('a number is a fixed cap that a refused connection does not change', () => {
    const sizing = new PoolSizing(5);
    expect(sizing.cap(0)).toBe(5);
    expect(sizing.refusedWith(3, 0)).toBe(false);
    expect(sizing.cap(1)).toBe(5);
  });

  it('auto caps at AUTO_POOL_CAP and learns a lower cap from a refusal, for LEARNED_CAP_MS', () => {
    const sizing = new PoolSizing('auto');
    expect(sizing.cap(0)).toBe(AUTO_POOL_CAP);
    expect(sizing.refusedWith(4, 1000)).toBe(true);
    expect(sizing.cap(1000 + LEARNED_CAP_MS - 1)).toBe(4);
    expect(sizing.cap(1000 + LEARNED_CAP_MS)).toBe(AUTO_POOL_CAP);
  });

  it('auto with no other session open does not wait: the upstream is down, not full', () => {
    const sizing = new PoolSizing('auto');
    expect(sizing.refusedWith(0, 0)).toBe(false);
    expect(sizing.cap(0)).toBe(AUTO_POOL_CAP);
  });

  it('split concurrency: the fixed cap, or a share of it under auto', () => {
    expect(splitConcurrencyFor(3)).toBe(3);
    expect(splitConcurrencyFor('auto')).toBe(AUTO_SPLIT_CONCURRENCY);
    expect(AUTO_SPLIT_CONCURRENCY).toBeLessThan(AUTO_POOL_CAP);
  });
});

describe('WaiterQueue', () => {
  it('serves in order; a waiter put back is served first', async () => {
    const queue = new WaiterQueue<string>();
    const got = Array.from({ length: 100 }, () => queue.wait());
    expect(queue.length).toBe(100);
    const first = queue.shift()!;
    queue.putBack(first);
    for (let i = 0; i < 100; i++) queue.shift()!.resolve(`lease ${i}`);
    expect(await Promise.all(got)).toEqual(Array.from({ length: 100 }, (_, i) => `lease ${i}`));
    expect(queue.length).toBe(0);
    expect(queue.shift()).toBeUndefined();
  });

  it('rejectAll fails every waiter', async () => {
    const queue = new WaiterQueue<string>();
    const got = [queue.wait(), queue.wait()];
    queue.rejectAll(new Error('closed'));
    for (const p of got) await expect(p).rejects.toThrow('closed');
    expect(queue.length).toBe(0);
  });
});
