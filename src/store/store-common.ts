import type { ListQuery } from './message-store.js';
import { RECORD_STATUSES, type MessageRecord, type RecordStatus } from './record.js';

export const MAX_LIST_LIMIT = 500;
/** Records one filtered page reads by default before it ends with a cursor: about a quarter of a second on the file store. */
export const MAX_LIST_SCAN = 2000;
/** The largest bound a caller may ask for (review/ summaries page through everything). */
export const MAX_LIST_SCAN_LIMIT = 50_000;
/** Longest filter value: a search term or an address, not a document. */
const MAX_FILTER_CHARS = 320;

/**
 * Checks a list query the same way for every store. A bad limit, cursor or
 * filter is the caller's mistake (RangeError, an HTTP 400), not a store outage.
 */
export function checkListQuery(query: ListQuery, isCursor: (cursor: string) => boolean): ListQuery {
  const { limit, cursor, status, maxScan } = query;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw new RangeError(`limit must be 1..${MAX_LIST_LIMIT}`);
  if (cursor !== undefined && !isCursor(cursor)) throw new RangeError('invalid cursor');
  if (status !== undefined) checkStatus(status);
  if (maxScan !== undefined && (!Number.isInteger(maxScan) || maxScan < 1 || maxScan > MAX_LIST_SCAN_LIMIT)) {
    throw new RangeError(`maxScan must be 1..${MAX_LIST_SCAN_LIMIT}`);
  }
  for (const key of ['action', 'rule', 'sender', 'text'] as const) {
    const value = query[key];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0 || value.length > MAX_FILTER_CHARS)) {
      throw new RangeError(`${key} must be 1..${MAX_FILTER_CHARS} characters`);
    }
  }
  if (query.violation !== undefined && typeof query.violation !== 'boolean') throw new RangeError('violation must be true or false');
  return query;
}

/**
 * How free text is compared: format characters (zero-width, bidi controls,
 * soft hyphen) removed, NFKC (full-width Latin and digits, half-width katakana
 * and other compatibility forms become their usual form), lower case. Applied
 * to the query and to the record, so `ＳＰＲＩＮＧ` finds "Spring" and
 * `ｷｬﾝﾍﾟｰﾝ` finds "キャンペーン".
 */
export function searchForm(text: string): string {
  return text
    .replace(/\p{Cf}/gu, '')
    .normalize('NFKC')
    .toLowerCase();
}

/**
 * The filters of a query beyond status, as one predicate over a record; null
 * when there are none (every record of the status matches, nothing to test).
 */
export function recordMatcher(query: ListQuery): ((record: MessageRecord) => boolean) | null {
  const { action, rule, violation } = query;
  const sender = query.sender?.toLowerCase();
  const text = query.text === undefined ? undefined : searchForm(query.text);
  if (action === undefined && rule === undefined && violation === undefined && sender === undefined && text === undefined) return null;
  return (record) => {
    const verdict = record.verdict;
    if (action !== undefined && verdict?.action !== action) return false;
    if (rule !== undefined && verdict?.rule !== rule) return false;
    if (violation !== undefined && verdict?.violation !== violation) return false;
    if (sender !== undefined && record.envelope.mailFrom.toLowerCase() !== sender) return false;
    if (text !== undefined) {
      const fields = [record.subject, record.from, record.envelope.mailFrom];
      if (!fields.some((field) => field !== null && searchForm(field).includes(text))) return false;
    }
    return true;
  };
}

export function emptyCounts(): Record<RecordStatus, number> {
  return Object.fromEntries(RECORD_STATUSES.map((s) => [s, 0])) as Record<RecordStatus, number>;
}

/** A status outside RECORD_STATUSES is a programming error; refuse it before it reaches disk or Redis. */
export function checkStatus(status: unknown): RecordStatus {
  if (!RECORD_STATUSES.includes(status as RecordStatus)) throw new RangeError(`unknown status ${JSON.stringify(status)}`);
  return status as RecordStatus;
}
