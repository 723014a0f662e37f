import { MESSAGE_ID_PATTERN } from '../message/message-id.js';
import type { ListPage, ListQuery } from './message-store.js';
import type { MessageRecord } from './record.js';
import type { RedisRecords } from './redis-records.js';
import { checkListQuery, MAX_LIST_SCAN, recordMatcher } from './store-common.js';

const CURSOR = new RegExp(`^(\\d{1,16})_(${MESSAGE_ID_PATTERN})$`);
/** Records a filtered listing fetches per round trip. */
const SCAN_BATCH = 200;

/**
 * MessageStore.list on Redis: walks a status index (or `idx:all`) newest
 * first from the cursor `<score>_<id>`, one page script call and one MULTI
 * fetch per batch, testing the other filters on the records themselves.
 */
export async function listRecords(redis: RedisRecords, query: ListQuery, guard: <T>(fn: () => Promise<T>) => Promise<T>): Promise<ListPage> {
  const { limit, cursor, status, maxScan = MAX_LIST_SCAN } = checkListQuery(query, (c) => CURSOR.test(c));
  const matches = recordMatcher(query);
  let [, afterScore = '', afterId = ''] = cursor === undefined ? [] : CURSOR.exec(cursor)!;
  return guard(async () => {
    const records: MessageRecord[] = [];
    let scanned = 0;
    let more = false;
    for (;;) {
      // Unfiltered, every record fetched is one for the page: fetch no more than it needs.
      const room = records.length === limit ? 0 : Math.min(SCAN_BATCH, maxScan - scanned, matches ? Infinity : limit - records.length);
      // One more than there is room for: whether anything follows the last record looked at.
      const flat = (await redis.run('page', [redis.key('idx', status ?? 'all')], [afterScore, afterId, String(room + 1)])) as string[];
      const page: { id: string; score: string }[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) page.push({ id: flat[i]!, score: flat[i + 1]! });
      const end = page.length <= room;
      if (!end) {
        more = room === 0;
        page.length = room;
      }
      if (page.length === 0) break;
      const fetched = await redis.fetch(page.map((p) => p.id));
      for (let i = 0; i < page.length; i++) {
        if (records.length === limit) {
          more = true;
          break;
        }
        scanned++;
        ({ score: afterScore, id: afterId } = page[i]!);
        const record = fetched[i];
        // A record can move on (or be purged) between the index read and the fetch.
        if (record && (status === undefined || record.status === status) && (matches === null || matches(record))) records.push(record);
      }
      if (more || end) break;
    }
    return { records, nextCursor: more ? `${afterScore}_${afterId}` : null, scanned };
  });
}
