import { RecordMismatchError, type RecordDirectories } from './file-store-records.js';
import { indexAfter, type StatusIndex } from './file-store-index.js';
import { guarded } from './file-store-guard.js';
import type { ListPage, ListQuery } from './message-store.js';
import type { MessageRecord, RecordStatus } from './record.js';
import { checkListQuery, MAX_LIST_SCAN, recordMatcher } from './store-common.js';
import { isMessageId } from '../message/message-id.js';

/** Records a listing reads at once: enough to keep the disk busy, few enough that a full page wastes little. */
export const READ_BATCH = 64;

/** MessageStore.list on the file store: ids from the status index, newest first, the cursor being the last id looked at. */
export async function listRecords(dirs: RecordDirectories, index: StatusIndex, query: ListQuery): Promise<ListPage> {
  const { limit, cursor, status, maxScan = MAX_LIST_SCAN } = checkListQuery(query, isMessageId);
  const matches = recordMatcher(query);
  return guarded('cannot list records', async () => {
    const all = await index.ids();
    const candidates = cursor === undefined ? all : all.slice(indexAfter(all, cursor));
    // Without a status filter every id is a candidate; with one, the index
    // finds the matching ids first. Other filters need the record itself.
    const ids = (status === undefined ? each(candidates) : matching(index.entries(candidates), status))[Symbol.asyncIterator]();
    const records: MessageRecord[] = [];
    let scanned = 0;
    let last: string | null = null;
    let more = false;
    for (;;) {
      // Unfiltered, every record read is one for the page: read no more than it needs.
      const room = records.length === limit ? 0 : Math.min(READ_BATCH, maxScan - scanned, matches ? Infinity : limit - records.length);
      const batch = room > 0 ? await take(ids, room) : [];
      if (batch.length === 0) {
        // Full, or out of scan budget: is there anything after the last record looked at?
        more = room <= 0 && !(await ids.next()).done;
        break;
      }
      const read = await Promise.all(batch.map((id) => readListed(dirs, id)));
      for (let i = 0; i < batch.length; i++) {
        if (records.length === limit) {
          more = true;
          break;
        }
        scanned++;
        last = batch[i]!;
        const record = read[i];
        // Re-checked against the file itself: another process may have moved it on.
        if (record && (status === undefined || record.status === status) && (matches === null || matches(record))) records.push(record);
      }
      if (more) break;
    }
    return { records, nextCursor: more ? last : null, scanned };
  });
}

/** A record for a listing; one unparsable record.json must not hide all the others (as in the index). */
export async function readListed(dirs: RecordDirectories, id: string): Promise<MessageRecord | null> {
  return dirs.read(id).catch((err: unknown) => {
    if (err instanceof SyntaxError || err instanceof RecordMismatchError) return null;
    throw err;
  });
}

async function* each(ids: readonly string[]): AsyncGenerator<string> {
  yield* ids;
}

async function take(ids: AsyncIterator<string>, count: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < count) {
    const step = await ids.next();
    if (step.done) break;
    out.push(step.value);
  }
  return out;
}

async function* matching(entries: AsyncIterable<{ id: string; status: RecordStatus }>, status: RecordStatus): AsyncGenerator<string> {
  for await (const entry of entries) if (entry.status === status) yield entry.id;
}
