import { open, readFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFileAtomically, syncDirectory, tempName, tempOwner, THIS_HOST, writeFileSynced, writeRecordDirectory } from './durable-write.js';
import { KeyedMutex, withDirLock } from './file-lock.js';
import { StoreConflictError } from './message-store.js';
import { RECORD_STATUSES, type MessageRecord } from './record.js';
import type { ReleaseClaim } from './message-store.js';
import { parseClaim } from './release-claim.js';

const RECORD_FILE = 'record.json';
const MESSAGE_FILE = 'message.eml';
const CLAIM_FILE = 'release.claim';
const LOCK_DIR = '.lock';
/** Temp entries older than this cannot belong to a write still in progress. */
const STALE_TEMP_MS = 60 * 60_000;

/** record.json exists but is not this record's (hand-edited, copied, truncated by a broken disk). */
export class RecordMismatchError extends Error {
  override readonly name = 'RecordMismatchError';
}

export interface LockedRecord {
  readonly record: MessageRecord;
  /** A release.claim file exists: a release is under way, or done. */
  readonly claimed: boolean;
  /** Creates release.claim with O_EXCL holding `content`; false if it already exists. */
  readonly claim: (content: ReleaseClaim) => Promise<boolean>;
  /** The claim as written (null: none, or not readable as one). */
  readonly readClaim: () => Promise<ReleaseClaim | null>;
  /** Replaces the claim's content (a renewed lease), atomically. */
  readonly rewriteClaim: (content: ReleaseClaim) => Promise<void>;
  /** Removes release.claim. */
  readonly unclaim: () => Promise<void>;
}

/**
 * The on-disk mechanics of the file store: one directory per record under
 * records/, written whole through tmp/, changed under a per-record lock that
 * holds across processes. What a change may do is the store's business.
 */
export class RecordDirectories {
  readonly records: string;
  readonly tmp: string;
  readonly #mutex = new KeyedMutex();

  constructor(readonly root: string) {
    this.records = join(root, 'records');
    this.tmp = join(root, 'tmp');
  }

  /** Rejects with ENOTEMPTY/EEXIST when the id is taken (rename never replaces a record). */
  async create(record: MessageRecord, raw: readonly Buffer[]): Promise<void> {
    await writeRecordDirectory(this.root, record.id, { [MESSAGE_FILE]: raw, [RECORD_FILE]: serialise(record) });
  }

  async read(id: string): Promise<MessageRecord | null> {
    let text: string;
    try {
      text = await readFile(join(this.records, id, RECORD_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const record = JSON.parse(text) as MessageRecord | null;
    if (typeof record !== 'object' || record === null || record.id !== id || !RECORD_STATUSES.includes(record.status)) {
      throw new RecordMismatchError(`record ${id}: record.json does not describe it`);
    }
    return record;
  }

  async readRaw(id: string): Promise<Buffer | null> {
    try {
      return await readFile(join(this.records, id, MESSAGE_FILE));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /**
   * Read-modify-write of record.json under the record's lock. `change` returns
   * the new record (the same object: no write) or throws a conflict; `after`
   * runs under the same lock once the new record.json is durable. A missing
   * record is a StoreConflictError with current null.
   */
  async update(
    id: string,
    change: (locked: LockedRecord) => Promise<MessageRecord> | MessageRecord,
    after?: (locked: LockedRecord) => Promise<void>,
  ): Promise<MessageRecord> {
    const dir = join(this.records, id);
    return this.#mutex.run(id, async () => {
      try {
        return await withDirLock(join(dir, LOCK_DIR), async () => {
          const record = await this.read(id);
          if (!record) throw new StoreConflictError(`no record ${id}`, null);
          const locked = this.#locked(dir, record, await exists(join(dir, CLAIM_FILE)));
          const next = await change(locked);
          if (next !== record) await replaceFileAtomically(dir, RECORD_FILE, serialise(next));
          if (after) await after(locked);
          return next;
        });
      } catch (err) {
        // The lock's mkdir inside a record directory that does not exist.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new StoreConflictError(`no record ${id}`, null);
        throw err;
      }
    });
  }

  /** The record's claim without taking its lock (a listing; the lock decides any change). */
  async readClaim(id: string): Promise<ReleaseClaim | null> {
    return readClaimFile(join(this.records, id, CLAIM_FILE));
  }

  /** Removes the record when `keep` says no, under its lock. */
  async removeUnless(id: string, keep: (locked: LockedRecord) => boolean): Promise<boolean> {
    let removed = false;
    await this.update(id, async (locked) => {
      if (keep(locked)) return locked.record;
      // One rename makes the record vanish as a whole; deleting file by file
      // could leave a message without its record.json for a reader to trip on.
      const aside = join(this.tmp, tempName(`purge-${id}`));
      await rename(join(this.records, id), aside);
      await rm(aside, { recursive: true, force: true });
      removed = true;
      return locked.record;
    });
    if (removed) await syncDirectory(this.records);
    return removed;
  }

  /** A create and unlink, not just a stat: a full or read-only disk must fail readiness. */
  async probe(): Promise<void> {
    if (!(await stat(this.records)).isDirectory()) throw new Error(`${this.records} is not a directory`);
    const probe = join(this.tmp, tempName('ping'));
    await (await open(probe, 'wx')).close();
    await unlink(probe);
  }

  /**
   * Removes what crashed writers left in tmp/. Another live process may be
   * mid-write, so only entries of dead processes on this host, or older than
   * any write can take, are removed.
   */
  async sweepTemp(): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.tmp)) {
      const path = join(this.tmp, name);
      const owner = tempOwner(name);
      let remove = owner !== null && owner.host === THIS_HOST && !isAlive(owner.pid);
      if (!remove)
        remove = await stat(path).then(
          (s) => now - s.mtimeMs > STALE_TEMP_MS,
          () => false,
        );
      if (remove) await rm(path, { recursive: true, force: true });
    }
  }

  #locked(dir: string, record: MessageRecord, claimed: boolean): LockedRecord {
    const claimFile = join(dir, CLAIM_FILE);
    return {
      record,
      claimed,
      async claim(content) {
        try {
          // O_EXCL create is what makes the claim at-most-once, across
          // processes, and even if the directory lock was broken as stale.
          await writeFileSynced(claimFile, JSON.stringify(content));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
          throw err;
        }
        await syncDirectory(dir);
        return true;
      },
      readClaim: () => readClaimFile(claimFile),
      async rewriteClaim(content) {
        await replaceFileAtomically(dir, CLAIM_FILE, JSON.stringify(content));
      },
      async unclaim() {
        await unlink(claimFile);
        await syncDirectory(dir);
      },
    };
  }
}

/** id, receivedAt and status first: the index reads them from the first bytes of the file. */
function serialise(record: MessageRecord): string {
  const { id, receivedAt, status, ...rest } = record;
  return JSON.stringify({ id, receivedAt, status, ...rest }, null, 2);
}

async function readClaimFile(path: string): Promise<ReleaseClaim | null> {
  try {
    return parseClaim(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
