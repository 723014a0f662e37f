import { describe, expect, it } from 'vitest';
import { TransactionCancellation } from '../../../src/upstream/cancellation.js';

describe('TransactionCancellation (the light AbortSignal of a transaction)', () => {
  it('fires each listener once with the reason set, forgets removed ones, and ignores a second abort', () => {
    const c = new TransactionCancellation();
    const heard: string[] = [];
    const first = () => heard.push(`first:${String(c.signal.reason)}`);
    const removed = () => heard.push('removed');
    c.signal.addEventListener('abort', first);
    c.signal.addEventListener('abort', removed);
    c.signal.removeEventListener('abort', removed);
    expect(c.signal.aborted).toBe(false);
    c.abort('the transaction deadline passed');
    c.abort('again');
    expect(c.signal.aborted).toBe(true);
    expect(heard).toEqual(['first:the transaction deadline passed']);
    // A listener added after the abort never runs (the sender checks `aborted` first).
    c.signal.addEventListener('abort', () => heard.push('late'));
    expect(heard).toHaveLength(1);
  });
});
