import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFileAtomically } from './durable-write.js';
import { KeyedMutex, LockTimeoutError, withDirLock } from './file-lock.js';
import { markLifetimeMs } from './mark-key.js';
import { StoreUnavailableError, type NoticeMarks } from './message-store.js';

/** Live marks kept in marks.json; past this the ones expiring soonest go first (at worst a notice repeats early). */
export const MAX_FILE_MARKS = 10_000;

const FILE = 'marks.json';

/**
 * The file store's marks: one JSON object {key: expiresAt ms} in
 * `<store>/marks.json`, read and replaced under the store's directory lock so
 * every process sharing the directory agrees on who was first. Expired marks
 * are dropped on every write. A mark this process has seen stays live until it
 * expires (nothing removes one early), so it answers repeats from memory: 832
 * held messages of one campaign touch the disk once.
 */
export class FileMarks implements NoticeMarks {
  readonly #known = new Map<string, number>();
  readonly #mutex = new KeyedMutex();

  constructor(
    private readonly root: string,
    private readonly now: () => number = Date.now,
  ) {}

  async firstWithin(key: string, ttlSeconds: number): Promise<boolean> {
    const lifetimeMs = markLifetimeMs(key, ttlSeconds);
    if (this.#liveHere(key)) return false;
    // One caller of this process at a time on the lock; the others then find the mark in memory.
    return this.#mutex.run(FILE, async () => {
      if (this.#liveHere(key)) return false;
      try {
        return await withDirLock(join(this.root, `${FILE}.lock`), () => this.#claim(key, lifetimeMs));
      } catch (err) {
        const detail = err instanceof LockTimeoutError ? err.message : ((err as NodeJS.ErrnoException).code ?? String(err));
        throw new StoreUnavailableError(`cannot update ${FILE}: ${detail}`, { cause: err });
      }
    });
  }

  async #claim(key: string, lifetimeMs: number): Promise<boolean> {
    const now = this.now();
    const marks = await this.#read(now);
    const until = marks.get(key);
    if (until !== undefined) {
      this.#remember(key, until);
      return false;
    }
    marks.set(key, now + lifetimeMs);
    if (marks.size > MAX_FILE_MARKS) {
      const soonestFirst = [...marks].sort((a, b) => a[1] - b[1]);
      for (const [k] of soonestFirst.slice(0, marks.size - MAX_FILE_MARKS)) marks.delete(k);
    }
    await replaceFileAtomically(this.root, FILE, JSON.stringify(Object.fromEntries(marks)));
    this.#remember(key, now + lifetimeMs);
    return true;
  }

  /** The live marks on disk; a missing or unreadable file is no marks (at worst one notice too many, never one lost message). */
  async #read(now: number): Promise<Map<string, number>> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(join(this.root, FILE), 'utf8'));
    } catch (err) {
      if (err instanceof SyntaxError || (err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw err;
    }
    const marks = new Map<string, number>();
    if (parsed && typeof parsed === 'object') {
      for (const [k, v] of Object.entries(parsed)) if (typeof v === 'number' && v > now) marks.set(k, v);
    }
    return marks;
  }

  #liveHere(key: string): boolean {
    const until = this.#known.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.#known.delete(key);
    return false;
  }

  #remember(key: string, until: number): void {
    if (this.#known.size >= MAX_FILE_MARKS) {
      const now = this.now();
      for (const [k, v] of this.#known) if (v <= now) this.#known.delete(k);
      if (this.#known.size >= MAX_FILE_MARKS) this.#known.clear();
    }
    this.#known.set(key, until);
  }
}
