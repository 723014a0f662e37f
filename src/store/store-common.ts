import type { ListQuery } from './message-store.js';
import { RECORD_STATUSES, type RecordStatus } from './record.js';

export const MAX_LIST_LIMIT = 500;

/**
 * Checks a list query the same way for every store. A bad limit or cursor is
 * the caller's mistake (RangeError, an HTTP 400), not a store outage.
 */
export function checkListQuery(query: ListQuery, isCursor: (cursor: string) => boolean): ListQuery {
  const { limit, cursor, status } = query;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw new RangeError(`limit must be 1..${MAX_LIST_LIMIT}`);
  if (cursor !== undefined && !isCursor(cursor)) throw new RangeError('invalid cursor');
  if (status !== undefined) checkStatus(status);
  return query;
}

export function emptyCounts(): Record<RecordStatus, number> {
  return Object.fromEntries(RECORD_STATUSES.map((s) => [s, 0])) as Record<RecordStatus, number>;
}

/** A status outside RECORD_STATUSES is a programming error; refuse it before it reaches disk or Redis. */
export function checkStatus(status: unknown): RecordStatus {
  if (!RECORD_STATUSES.includes(status as RecordStatus)) throw new RangeError(`unknown status ${JSON.stringify(status)}`);
  return status as RecordStatus;
}
