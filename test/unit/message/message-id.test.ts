import { describe, expect, it } from 'vitest';
import { newMessageId } from '../../../src/message/message-id.js';

describe('newMessageId', () => {
  it('is a 26-character ULID that sorts by time', () => {
    const early = newMessageId(Date.UTC(2026, 0, 1));
    const late = newMessageId(Date.UTC(2026, 10, 29));
    expect(early).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(early < late).toBe(true);
    expect(newMessageId(0).slice(0, 10)).toBe('0000000000');
  });

  it('does not repeat across many ids drawn from the random pool', () => {
    const ids = new Set(Array.from({ length: 5000 }, () => newMessageId(1_000)));
    expect(ids.size).toBe(5000);
  });
});
