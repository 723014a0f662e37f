import { createHash } from 'node:crypto';
import type { BreakerLimits } from './message-store.js';

// What both breaker stores (file-breakers.ts, redis-breakers.ts) agree on:
// the id of a sender's breaker and the checks on what callers hand in.

/** A breaker id: 24 hex digits. */
export const BREAKER_ID_PATTERN = '[0-9a-f]{24}';
const BREAKER_ID = new RegExp(`^${BREAKER_ID_PATTERN}$`);

/**
 * The id of a sender's breaker: a hash of the lower-cased address, so the
 * same sender has the same id on every instance and no address appears in a
 * URL, a log line or an audit target.
 */
export function breakerId(sender: string): string {
  return createHash('sha256').update(senderKey(sender), 'utf8').digest('hex').slice(0, 24);
}

export function isBreakerId(value: unknown): value is string {
  return typeof value === 'string' && BREAKER_ID.test(value);
}

/** Senders compare case-insensitively. */
export function senderKey(sender: string): string {
  return sender.toLowerCase();
}

/** A bad call is a programming error (RangeError), not a store outage. */
export function checkViolation(sender: string, at: Date, limits: BreakerLimits): number {
  if (typeof sender !== 'string' || sender === '') throw new RangeError('breaker: the null sender has no breaker');
  const ms = at.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('breaker: invalid date');
  if (!Number.isInteger(limits.violations) || limits.violations < 1) throw new RangeError('breaker: violations must be a positive integer');
  if (!Number.isInteger(limits.windowSeconds) || limits.windowSeconds < 1) throw new RangeError('breaker: windowSeconds must be a positive integer');
  return ms;
}
