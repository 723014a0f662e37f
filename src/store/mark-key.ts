// The arguments of NoticeMarks.firstWithin, checked alike by both stores.

const MARK_KEY = /^[A-Za-z0-9:_.-]{1,200}$/;
/** A day: no notice or page is limited over a longer period than this. */
const MAX_TTL_SECONDS = 86_400;

/** The mark's lifetime in whole milliseconds (at least 1); RangeError for a bad key or period. */
export function markLifetimeMs(key: string, ttlSeconds: number): number {
  if (!MARK_KEY.test(key)) throw new RangeError(`mark key: 1-200 letters, digits and : _ . - only, got ${JSON.stringify(key.slice(0, 40))}`);
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new RangeError(`mark period: more than 0 and at most ${MAX_TTL_SECONDS} seconds, got ${ttlSeconds}`);
  }
  return Math.max(1, Math.round(ttlSeconds * 1000));
}
