import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { breakerId, checkViolation, isBreakerId, senderKey } from './breaker-common.js';
import { replaceFileAtomically, tempName } from './durable-write.js';
import { KeyedMutex, LockTimeoutError, withDirLock } from './file-lock.js';
import { StoreUnavailableError, type BreakerLimits, type BreakerRecord, type BreakerStore } from './message-store.js';

const FILE = 'breakers.json';
const LOCK = 'breakers.lock';
const WINDOWS = 'breaker-windows';
/** Window files untouched for longer than the window can no longer open anything; swept at most this often. */
const SWEEP_EVERY_MS = 60_000;

interface BreakerFile {
  /** Open breakers by id. */
  readonly open: Record<string, BreakerRecord>;
}

const EMPTY: BreakerFile = { open: {} };

/**
 * The file store's breakers, shared by every process on one store path, in
 * two parts that change at very different rates:
 *
 * - `<store>/breakers.json`: the open breakers only. It changes when one opens
 *   or is reset, and is replaced durably (write, fsync, rename, fsync the
 *   directory). The hot path (openFor, once per message while a breaker is
 *   configured) reads a cached copy and only stats the file: every write
 *   renames a new file into place, so a changed inode, size or mtime means
 *   another process (or this one) wrote it, and it is read again.
 * - `<store>/breaker-windows/<id>.json`: one sender's violation times inside
 *   its window. Each violation rewrites only its sender's small file (renamed
 *   into place, not fsynced: a crash may forget the last few violations, which
 *   opens a breaker a little later; it can never open one wrongly or close one).
 *   Keeping them out of breakers.json matters: one file for every sender's
 *   window was rewritten on each violation and re-read on each message, which
 *   halved the soak's throughput once many senders had violations.
 *
 * Both change under one directory lock (file-lock.ts), so counting and opening
 * is one atomic step for every process on the store.
 */
export class FileBreakers implements BreakerStore {
  readonly #path: string;
  readonly #lock: string;
  readonly #windows: string;
  readonly #mutex = new KeyedMutex();
  #cache: { stamp: string; content: BreakerFile } | null = null;
  #nextSweep = 0;

  constructor(
    private readonly root: string,
    private readonly isClosed: () => boolean,
  ) {
    this.#path = join(root, FILE);
    this.#lock = join(root, LOCK);
    this.#windows = join(root, WINDOWS);
  }

  async recordViolation(sender: string, at: Date, limits: BreakerLimits): Promise<BreakerRecord | null> {
    const atMs = checkViolation(sender, at, limits);
    const id = breakerId(sender);
    return this.#locked('cannot count a violation', async () => {
      const file = await this.#read();
      // Already open (another process opened it meanwhile): nothing to count.
      if (file.open[id]) return null;
      const since = atMs - limits.windowSeconds * 1000;
      const mine = [...(await this.#readWindow(id)).filter((t) => t > since), atMs];
      if (mine.length < limits.violations) {
        await this.#writeWindow(id, mine);
        await this.#sweep(atMs, limits.windowSeconds);
        return null;
      }
      const opened: BreakerRecord = {
        id,
        sender: senderKey(sender),
        openedAt: new Date(atMs).toISOString(),
        violations: mine.length,
        windowSeconds: limits.windowSeconds,
        action: limits.action,
      };
      await this.#writeOpen({ open: { ...file.open, [id]: opened } });
      await rm(join(this.#windows, `${id}.json`), { force: true });
      return opened;
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
    return this.#locked('cannot reset a breaker', async () => {
      const file = await this.#read();
      const found = file.open[id] ?? null;
      if (found) {
        const { [id]: _closed, ...open } = file.open;
        await this.#writeOpen({ open });
      }
      // Forget the window too, so one new violation does not reopen it.
      await rm(join(this.#windows, `${id}.json`), { force: true });
      return found;
    });
  }

  async #locked<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.#guard(what, () => this.#mutex.run(LOCK, () => withDirLock(this.#lock, fn)));
  }

  async #writeOpen(file: BreakerFile): Promise<void> {
    await replaceFileAtomically(this.root, FILE, JSON.stringify(file));
    this.#cache = null;
  }

  async #readWindow(id: string): Promise<number[]> {
    let text: string;
    try {
      text = await readFile(join(this.#windows, `${id}.json`), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const times = JSON.parse(text) as unknown;
    // A window file that is not a list of times was not written here: it counts nothing, and is replaced.
    return Array.isArray(times) ? times.filter((t): t is number => typeof t === 'number' && Number.isFinite(t)) : [];
  }

  async #writeWindow(id: string, times: readonly number[]): Promise<void> {
    await mkdir(this.#windows, { recursive: true });
    const temp = join(this.#windows, `${tempName(id)}.tmp`);
    await writeFile(temp, JSON.stringify(times));
    await rename(temp, join(this.#windows, `${id}.json`));
  }

  /** Removes window files (and a crashed writer's temp files) nobody wrote to within the window. */
  async #sweep(nowMs: number, windowSeconds: number): Promise<void> {
    if (nowMs < this.#nextSweep) return;
    this.#nextSweep = nowMs + SWEEP_EVERY_MS;
    for (const name of await readdir(this.#windows)) {
      const path = join(this.#windows, name);
      const s = await stat(path).catch(() => null);
      if (s && s.mtimeMs < nowMs - windowSeconds * 1000) await rm(path, { force: true });
    }
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
  if (typeof value !== 'object' || value === null || typeof value.open !== 'object' || value.open === null) {
    throw new SyntaxError(`${FILE} is not a breaker file`);
  }
  return { open: value.open };
}
