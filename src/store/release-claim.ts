import type { ReleaseClaim } from './message-store.js';

// The release claim's lease, the same for both stores: a claim is JSON
// {at, host, pid, leaseUntil}; one whose lease ended is a release that died
// half-way, shown to an operator (expiredClaims) and never taken over by itself.

/** The most records dueForRelease and expiredClaims answer at once. */
export const MAX_DUE_LIMIT = 1000;

/** Whether a claim's lease ended before `now` (no lease: yes). */
export function claimExpired(claim: ReleaseClaim, now: Date): boolean {
  if (claim.leaseUntil === null) return true;
  const until = Date.parse(claim.leaseUntil);
  return !Number.isFinite(until) || until < now.getTime();
}

/** A claim as stored (older versions wrote no leaseUntil); null when it is not one. */
export function parseClaim(text: string): ReleaseClaim | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  return {
    at: typeof v['at'] === 'string' ? v['at'] : '',
    host: typeof v['host'] === 'string' ? v['host'] : '',
    pid: typeof v['pid'] === 'number' ? v['pid'] : 0,
    leaseUntil: typeof v['leaseUntil'] === 'string' ? v['leaseUntil'] : null,
  };
}

export function checkDueQuery(now: Date, limit: number): void {
  if (!Number.isFinite(now.getTime())) throw new RangeError('invalid date');
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DUE_LIMIT) throw new RangeError(`limit must be 1..${MAX_DUE_LIMIT}`);
}

/** A lease end that is not a date is the caller's mistake. */
export function checkLease(leaseUntil: Date): string {
  if (!(leaseUntil instanceof Date) || !Number.isFinite(leaseUntil.getTime())) throw new RangeError('leaseUntil must be a valid date');
  return leaseUntil.toISOString();
}
