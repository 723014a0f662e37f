import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { breakerId, checkViolation, isBreakerId, senderKey } from './breaker-common.js';
import { replaceFileAtomically } from './durable-write.js';
import { KeyedMutex, LockTimeoutError, withDirLock } from './file-lock.js';
import { StoreUnavailableError, type BreakerLimits, type BreakerRecord, type BreakerStore } from './message-store.js';

const FILE = 'breakers.json';
const LOCK = 'breakers.lock';

interface BreakerFile {
  /** Open breakers by id. */
  readonly open: Record<string, BreakerRecord>;
  /** Violation times (ms) inside the window, per breaker id. */
  readonly violations: Record<string, number[]>;
}

const EMPTY: BreakerFile = { open: {}, violations: {} };

/**
 * The file store's breakers: one JSON file, `<store>/breakers.json`, changed
 * under a directory lock (file-lock.ts) so several processes on one store
 * path agree, and replaced durably (write, fsync, rename, fsync the directory).
 *
 * The hot path (openFor, once per message while a breaker is configured) reads
 * a cached copy and only stats the file: every write renames a new file into
 * place, so a changed inode, size or mtime means another process (or this
 * one) wrote it, and it is read again.
 */
export class FileBreakers implements BreakerStore {
  readonly #path: string;
  readonly #lock: string;
  readonly #mutex = new KeyedMutex();
  #cache: { stamp: string; content: BreakerFile } | null = null;

  constructor(
    private readonly root: string,
    private readonly isClosed: () => boolean,
  ) {
    this.#path = join(root, FILE);
    this.#lock = join(root, LOCK);
  }

  async recordViolation(sender: string, at: Date, limits: BreakerLimits): Promise<BreakerRecord | null> {
    const atMs = checkViolation(sender, at, limits);
    const id = breakerId(sender);
    return this.#update(`cannot count a violation`, (file) => {
      // Already open (another process opened it meanwhile): nothing to count.
      if (file.open[id]) return { file, result: null };
      const since = atMs - limits.windowSeconds * 1000;
      const violations: Record<string, number[]> = {};
      // Trim every sender's list to the window, so the file holds only what can still open a breaker.
      for (const [key, times] of Object.entries(file.violations)) {
        const kept = times.filter((t) => t > since);
        if (kept.length > 0) violations[key] = kept;
      }
      const mine = [...(violations[id] ?? []), atMs];
      if (mine.length < limits.violations) {
        violations[id] = mine;
        return { file: { open: file.open, violations }, result: null };
      }
      const opened: BreakerRecord = {
        id,
        sender: senderKey(sender),
        openedAt: new Date(atMs).toISOString(),
        violations: mine.length,
        windowSeconds: limits.windowSeconds,
        action: limits.action,
      };
      delete violations[id];
      return { file: { open: { ...file.open, [id]: opened }, violations }, result: opened };
    });
  }

  async openFor(sender: string): Promise<BreakerRecord | null> {
    const file = await this.#guard('cannot read the breakers', () => this.#read());
    return file.open[breakerId(sender)] ?? null;
  }

  async list(): Promise<readonly BreakerRecord[]> {
    const file = await this.#guard('cannot read the breakers', () => this.#read());
    return Object.values(file.open).sort((a, b) => a.openedAt.localeCompare(b.openedAt) || a.id.localeCompare(b.id));
  }

  async reset(id: string): Promise<BreakerRecord | null> {
    if (!isBreakerId(id)) return null;
    return this.#update('cannot reset a breaker', (file) => {
      const found = file.open[id] ?? null;
      if (!found && !file.violations[id]) return { file, result: null };
      const { [id]: _closed, ...open } = file.open;
      const { [id]: _forgotten, ...violations } = file.violations;
      return { file: { open, violations }, result: found };
    });
  }

  /** Read, change and write back under the lock; an unchanged file is not rewritten. */
  async #update<T>(what: string, change: (file: BreakerFile) => { file: BreakerFile; result: T }): Promise<T> {
    return this.#guard(what, () =>
      this.#mutex.run(LOCK, () =>
        withDirLock(this.#lock, async () => {
          const before = await this.#read();
          const { file, result } = change(before);
          if (file !== before) {
            await replaceFileAtomically(this.root, FILE, JSON.stringify(file));
            this.#cache = null;
          }
          return result;
        }),
      ),
    );
  }

  async #read(): Promise<BreakerFile> {
    let stamp: string;
    try {
      const s = await stat(this.#path);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY;
      throw err;
    }
    if (this.#cache?.stamp === stamp) return this.#cache.content;
    const content = parse(await readFile(this.#path, 'utf8'));
    this.#cache = { stamp, content };
    return content;
  }

  async #guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.isClosed()) throw new StoreUnavailableError('store is closed');
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreUnavailableError || err instanceof RangeError) throw err;
      const e = err as NodeJS.ErrnoException;
      const detail = err instanceof LockTimeoutError || err instanceof SyntaxError ? e.message : (e.code ?? e.message ?? String(err));
      throw new StoreUnavailableError(`${what} in ${this.#path}: ${detail}`, { cause: err });
    }
  }
}

/** A file that is not a breaker file fails closed (StoreUnavailableError via #guard): whether a sender is paused is unknown. */
function parse(text: string): BreakerFile {
  const value = JSON.parse(text) as Partial<BreakerFile> | null;
  if (typeof value !== 'object' || value === null || typeof value.open !== 'object' || typeof value.violations !== 'object') {
    throw new SyntaxError(`${FILE} is not a breaker file`);
  }
  return value as BreakerFile;
}
