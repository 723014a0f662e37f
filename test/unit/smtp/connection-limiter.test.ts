import { describe, expect, it } from 'vitest';
import { ConnectionLimiter } from '../../../src/smtp/connection-limiter.js';

describe('ConnectionLimiter', () => {
  it('admits up to the cap per address and refuses the next without counting it', () => {
    const limiter = new ConnectionLimiter(2);
    const a = limiter.tryAcquire('192.0.2.1');
    const b = limiter.tryAcquire('192.0.2.1');
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    expect(limiter.tryAcquire('192.0.2.1')).toBeNull();
    expect(limiter.tryAcquire('192.0.2.1')).toBeNull();
    expect(limiter.count('192.0.2.1')).toBe(2);
    // Other addresses have their own cap.
    expect(limiter.tryAcquire('192.0.2.2')).not.toBeNull();
  });

  it('frees a slot on release, ignores a second release, and forgets idle addresses', () => {
    const limiter = new ConnectionLimiter(1);
    const release = limiter.tryAcquire('::1')!;
    expect(limiter.tryAcquire('::1')).toBeNull();
    release();
    release();
    expect(limiter.count('::1')).toBe(0);
    expect(limiter.size).toBe(0);
    const again = limiter.tryAcquire('::1');
    expect(again).not.toBeNull();
    expect(limiter.count('::1')).toBe(1);
    again!();
    expect(limiter.size).toBe(0);
  });
});
