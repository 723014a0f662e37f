import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  asAuditEntry,
  AuditLogCorruptError,
  auditJsonLine,
  chainedEntry,
  checkAuditInput,
  checkAuditQuery,
  entriesOfLines,
  parseAuditLine,
  type AuditEntry,
  type AuditEntryInput,
} from './audit-chain.js';
import { syncDirectory } from './durable-write.js';
import { KeyedMutex, LockTimeoutError, withDirLock } from './file-lock.js';
import { StoreUnavailableError, type AuditLog } from './message-store.js';

/** Where the file store keeps its audit log, under store.path. */
export const AUDIT_DIR = 'audit';
export const AUDIT_FILE = 'audit.jsonl';
const LOCK = 'append.lock';
const NEWLINE = 0x0a;

/**
 * The file store's audit log: `<store.path>/audit/audit.jsonl`, one entry per
 * line (audit-chain.ts auditJsonLine), only ever appended to.
 *
 * Order across processes: every append reads the last line, chains the new
 * entry to it and writes it while holding the directory lock
 * `audit/append.lock` (file-lock.ts: mkdir(2), atomic on local file systems
 * and NFSv3+), so two processes sharing the directory can never both chain to
 * the same entry. Calls within one process queue on a KeyedMutex first. The
 * line is fdatasync'ed before append() resolves; the first append also syncs
 * the directories, so the file itself survives a power cut.
 *
 * A line cut short by a crash mid-write has no newline: readers skip it, and
 * the next append (under the lock, so no writer is mid-line) cuts it off. It
 * was never acknowledged. Everything else in the file is left as found: a line
 * changed by hand is for `audit verify` to name, not for the store to repair,
 * and an append after a last line that is not an entry fails (StoreUnavailableError)
 * rather than chain to something unreadable.
 */
export class FileAuditLog implements AuditLog {
  readonly #dir: string;
  readonly #path: string;
  readonly #mutex = new KeyedMutex();
  #index: LineIndex | null = null;
  #closed = false;

  constructor(
    private readonly root: string,
    private readonly options: { readonly readOnly: boolean } = { readOnly: false },
  ) {
    this.#dir = join(root, AUDIT_DIR);
    this.#path = join(this.#dir, AUDIT_FILE);
  }

  async append(input: AuditEntryInput): Promise<AuditEntry> {
    this.#usable();
    if (this.options.readOnly) throw new StoreUnavailableError('the audit log was opened read only');
    const checked = checkAuditInput(input);
    return this.#guard('cannot append to the audit log', () =>
      this.#mutex.run('append', async () => {
        if ((await mkdir(this.#dir, { recursive: true })) !== undefined) await syncDirectory(this.root);
        return withDirLock(join(this.#dir, LOCK), () => this.#appendLocked(checked));
      }),
    );
  }

  async read(query: { readonly after?: number; readonly limit: number }): Promise<readonly AuditEntry[]> {
    const { after } = checkAuditQuery(query);
    return entriesOfLines(await this.readLines(query), after);
  }

  /** The stored lines themselves, for `audit verify`: the same window as read(), nothing parsed. */
  async readLines(query: { readonly after?: number; readonly limit: number }): Promise<readonly string[]> {
    this.#usable();
    const { after, limit } = checkAuditQuery(query);
    return this.#guard('cannot read the audit log', async () => {
      let file: FileHandle;
      try {
        file = await open(this.#path, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      try {
        const index = await this.#lineIndex(file);
        if (after >= index.starts.length) return [];
        const stop = Math.min(after + limit, index.starts.length);
        const from = index.starts[after]!;
        const to = stop < index.starts.length ? index.starts[stop]! : index.end;
        const bytes = Buffer.alloc(to - from);
        for (let done = 0; done < bytes.length;) {
          const { bytesRead } = await file.read(bytes, done, bytes.length - done, from + done);
          if (bytesRead === 0) throw new Error('the audit log got shorter while it was read');
          done += bytesRead;
        }
        const lines = bytes.toString('utf8').split('\n');
        lines.pop(); // after the last newline
        return lines;
      } finally {
        await file.close();
      }
    });
  }

  close(): void {
    this.#closed = true;
  }

  async #appendLocked(input: AuditEntryInput): Promise<AuditEntry> {
    const file = await open(this.#path, 'a+');
    try {
      const { size } = await file.stat();
      const { line, end } = await lastLine(file, size);
      if (end < size) await file.truncate(end);
      let last: AuditEntry | null = null;
      if (line !== null) {
        last = asAuditEntry(parseAuditLine(line));
        if (!last) {
          throw new StoreUnavailableError(
            'the last line of the audit log is not an audit entry (the file was changed outside mail-guard); nothing more can be audited until an operator looks: run mail-guard audit verify',
          );
        }
      }
      const entry = chainedEntry(last, input, new Date());
      const bytes = Buffer.from(auditJsonLine(entry) + '\n', 'utf8');
      // write() may take fewer bytes than asked; in append mode each write goes to the end.
      for (let offset = 0; offset < bytes.length;) offset += (await file.write(bytes, offset)).bytesWritten;
      await file.datasync();
      if (end === 0) await syncDirectory(this.#dir);
      return entry;
    } finally {
      await file.close();
    }
  }

  /**
   * Where each complete line starts, so paging through a large log does not
   * re-read it from the top for every page. Rebuilt whenever the file is not
   * exactly as it was (device, inode, size, times): cheap for a log of human
   * actions (counting newlines, about a second per GB), and an index kept
   * across an edit in place could cut lines in the wrong places.
   */
  async #lineIndex(file: FileHandle): Promise<LineIndex> {
    const st = await file.stat();
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    if (this.#index?.key === key) return this.#index;
    const starts: number[] = [];
    let lineStart = 0;
    const chunk = Buffer.allocUnsafe(1 << 20);
    for (let pos = 0; pos < st.size;) {
      const { bytesRead } = await file.read(chunk, 0, Math.min(chunk.length, st.size - pos), pos);
      if (bytesRead === 0) break;
      const view = chunk.subarray(0, bytesRead);
      for (let i = view.indexOf(NEWLINE); i >= 0; i = view.indexOf(NEWLINE, i + 1)) {
        starts.push(lineStart);
        lineStart = pos + i + 1;
      }
      pos += bytesRead;
    }
    this.#index = { key, starts, end: lineStart };
    return this.#index;
  }

  #usable(): void {
    if (this.#closed) throw new StoreUnavailableError('store is closed');
  }

  /** Caller mistakes and a corrupt entry pass through; every other failure means the disk cannot answer. */
  async #guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreUnavailableError || err instanceof RangeError || err instanceof AuditLogCorruptError) throw err;
      const e = err as NodeJS.ErrnoException;
      const detail = err instanceof LockTimeoutError ? e.message : (e.code ?? e.message ?? String(err));
      throw new StoreUnavailableError(`${what}: ${detail}`, { cause: err });
    }
  }
}

interface LineIndex {
  readonly key: string;
  /** Byte offset of each complete line. */
  readonly starts: readonly number[];
  /** Just after the last newline: anything beyond is a line still (or never) being written. */
  readonly end: number;
}

/**
 * The last complete line of the file (null if there is none) and the offset
 * just after its newline. Read backwards, so an append costs the same however
 * long the log is.
 */
async function lastLine(file: FileHandle, size: number): Promise<{ line: string | null; end: number }> {
  const CHUNK = 64 * 1024;
  let pos = size;
  let buf = Buffer.alloc(0);
  for (;;) {
    const nl = buf.lastIndexOf(NEWLINE);
    if (nl >= 0) {
      const before = nl === 0 ? -1 : buf.lastIndexOf(NEWLINE, nl - 1);
      if (before >= 0 || pos === 0) return { line: buf.subarray(before + 1, nl).toString('utf8'), end: pos + nl + 1 };
    } else if (pos === 0) {
      return { line: null, end: 0 };
    }
    const from = Math.max(0, pos - CHUNK);
    const piece = Buffer.alloc(pos - from);
    for (let done = 0; done < piece.length;) {
      const { bytesRead } = await file.read(piece, done, piece.length - done, from + done);
      if (bytesRead === 0) throw new Error('the audit log got shorter while it was read');
      done += bytesRead;
    }
    buf = Buffer.concat([piece, buf]);
    pos = from;
  }
}
