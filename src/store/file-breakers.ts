import { readFileSync, statSync } from 'node:fs';
import { open, readFile, rename, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { breakerId, checkViolation, isBreakerId, senderKey } from './breaker-common.js';
import { replaceFileAtomically, tempName } from './durable-write.js';
import { KeyedMutex, LockTimeoutError, withDirLock } from './file-lock.js';
import { StoreUnavailableError, type BreakerLimits, type BreakerRecord, type BreakerStore } from './message-store.js';

const FILE = 'breakers.json';
const LOG = 'breaker-violations.log';
const LOCK = 'breakers.lock';
/** Past this size the log is rewritten with only what is still inside a window. */
const COMPACT_BYTES = 4 * 1024 * 1024;
/** How often the in-memory windows drop senders whose violations all fell out of the window. */
const PRUNE_EVERY_MS = 60_000;

interface BreakerFile {
  /** Open breakers by id. */
  readonly open: Record<string, BreakerRecord>;
}

const EMPTY: BreakerFile = { open: {} };

/** This process's read position in the violation log. */
interface LogState {
  readonly handle: FileHandle;
  readonly ino: number;
  offset: number;
  /** A last line not yet ended by its newline (another process is writing it). */
  rest: string;
}

/**
 * The file store's breakers, shared by every process on one store path:
 *
 * - `<store>/breakers.json`: the open breakers only. It changes when one opens
 *   or is reset, under a directory lock (file-lock.ts), replaced durably
 *   (write, fsync, rename, fsync the directory). The hot path (openFor, once
 *   per message while a breaker is configured) keeps a parsed copy and checks
 *   it with one stat: every write renames a new file into place, so a changed
 *   inode, size or mtime means some process wrote it.
 * - `<store>/breaker-violations.log`: one JSON line per violation (`{"v": id,
 *   "t": ms}`) or reset (`{"r": id}`), appended with O_APPEND (a line this
 *   short is written whole, and in one order every process reads the same).
 *   Each process folds the lines it has not read yet into its own windows, so
 *   counting a violation is one append and one short read — no lock and no
 *   fsync (a crash may forget the last violations: a breaker opens a little
 *   later, never wrongly). Only the violation that reaches the threshold takes
 *   the lock, reads again, and opens the breaker once for everyone.
 *
 * Before this, every sender's window was one JSON file rewritten and fsynced
 * on each violation and re-read on each message; then one small file per
 * sender: about 1 ms of CPU per violation, serialised, which cost the soak
 * 40% of its throughput.
 */
export class FileBreakers implements BreakerStore {
  readonly #path: string;
  readonly #logPath: string;
  readonly #lock: string;
  readonly #mutex = new KeyedMutex();
  #cache: { stamp: string; content: BreakerFile } | null = null;
  #log: LogState | null = null;
  #opening: Promise<void> | null = null;
  #reading: Promise<void> = Promise.resolve();
  /** Violation times (ms) by breaker id, from the log. */
  readonly #windows = new Map<string, number[]>();
  #longestWindowMs = 0;
  /** The latest violation time read: windows are pruned against the violations' own clock. */
  #latestMs = 0;
  #nextPrune = 0;

  constructor(
    private readonly root: string,
    private readonly isClosed: () => boolean,
    /** Tests make it small to see a compaction; COMPACT_BYTES otherwise. */
    private readonly compactBytes: number = COMPACT_BYTES,
  ) {
    this.#path = join(root, FILE);
    this.#logPath = join(root, LOG);
    this.#lock = join(root, LOCK);
  }

  async recordViolation(sender: string, at: Date, limits: BreakerLimits): Promise<BreakerRecord | null> {
    const atMs = checkViolation(sender, at, limits);
    const id = breakerId(sender);
    return this.#guard('cannot count a violation', async () => {
      // Already open (maybe opened by another process): nothing to count.
      if (this.#readOpen().open[id]) return null;
      this.#longestWindowMs = Math.max(this.#longestWindowMs, limits.windowSeconds * 1000);
      await this.#append({ v: id, t: atMs });
      await this.#catchUp();
      if (this.#count(id, atMs, limits) < limits.violations) return null;
      // The threshold is reached: open it once, whoever else reached it at the same moment.
      return this.#locked(async () => {
        await this.#catchUp();
        const file = await this.#readOpenFresh();
        if (file.open[id]) return null;
        const count = this.#count(id, atMs, limits);
        if (count < limits.violations) return null;
        const opened: BreakerRecord = {
          id,
          sender: senderKey(sender),
          openedAt: new Date(atMs).toISOString(),
          violations: count,
          windowSeconds: limits.windowSeconds,
          action: limits.action,
        };
        await this.#writeOpen({ open: { ...file.open, [id]: opened } });
        // Its window is spent: after a reset it counts from zero.
        await this.#append({ r: id });
        await this.#compactIfLarge(atMs);
        return opened;
      });
    });
  }

  async openFor(sender: string): Promise<BreakerRecord | null> {
    return this.#guard('cannot read the breakers', async () => this.#readOpen().open[breakerId(sender)] ?? null);
  }

  async list(): Promise<readonly BreakerRecord[]> {
    const file = await this.#guard('cannot read the breakers', () => this.#readOpenFresh());
    return Object.values(file.open).sort((a, b) => a.openedAt.localeCompare(b.openedAt) || a.id.localeCompare(b.id));
  }

  async reset(id: string): Promise<BreakerRecord | null> {
    if (!isBreakerId(id)) return null;
    return this.#guard('cannot reset a breaker', () =>
      this.#locked(async () => {
        const file = await this.#readOpenFresh();
        const found = file.open[id] ?? null;
        if (found) {
          const { [id]: _closed, ...open } = file.open;
          await this.#writeOpen({ open });
        }
        // Forget the window too, in every process, so one new violation does not reopen it.
        await this.#append({ r: id });
        await this.#catchUp();
        return found;
      }),
    );
  }

  async close(): Promise<void> {
    const log = this.#log;
    this.#log = null;
    await log?.handle.close();
  }

  #count(id: string, atMs: number, limits: BreakerLimits): number {
    const since = atMs - limits.windowSeconds * 1000;
    const kept = (this.#windows.get(id) ?? []).filter((t) => t > since);
    if (kept.length) this.#windows.set(id, kept);
    else this.#windows.delete(id);
    return kept.filter((t) => t <= atMs).length;
  }

  async #append(line: { v: string; t: number } | { r: string }): Promise<void> {
    // Catching up first notices a compaction (a new file renamed over the log): appending to the old one would be lost.
    await this.#catchUp();
    const log = await this.#openLog();
    await log.handle.appendFile(JSON.stringify(line) + '\n');
  }

  /** One catch-up at a time in this process: two reading from the same offset would count the same lines twice. */
  #catchUp(): Promise<void> {
    const next = this.#reading.then(() => this.#catchUpNow());
    this.#reading = next.catch(() => undefined);
    return next;
  }

  /** Folds the log lines this process has not read yet into its windows; starts over when the log was compacted. */
  async #catchUpNow(): Promise<void> {
    let log = await this.#openLog();
    const s = await stat(this.#logPath).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
    if (s === null || s.ino !== log.ino) {
      // Compacted (renamed over) by some process: read the new file from its start.
      await this.close();
      this.#windows.clear();
      log = await this.#openLog();
    }
    const size = (await log.handle.stat()).size;
    if (size <= log.offset) return;
    const buffer = Buffer.alloc(size - log.offset);
    const { bytesRead } = await log.handle.read(buffer, 0, buffer.length, log.offset);
    log.offset += bytesRead;
    const lines = (log.rest + buffer.subarray(0, bytesRead).toString('utf8')).split('\n');
    // A line still being written by another process waits for the next read.
    log.rest = lines.pop() ?? '';
    for (const text of lines) this.#fold(text);
    this.#prune();
  }

  #fold(text: string): void {
    let line: { v?: unknown; t?: unknown; r?: unknown };
    try {
      line = JSON.parse(text) as typeof line;
    } catch {
      return; // not a line this store wrote: it counts nothing
    }
    if (typeof line.r === 'string') this.#windows.delete(line.r);
    else if (typeof line.v === 'string' && typeof line.t === 'number' && Number.isFinite(line.t)) {
      this.#latestMs = Math.max(this.#latestMs, line.t);
      const times = this.#windows.get(line.v);
      if (times) times.push(line.t);
      else this.#windows.set(line.v, [line.t]);
    }
  }

  #prune(): void {
    const now = Date.now();
    if (now < this.#nextPrune || this.#longestWindowMs === 0) return;
    this.#nextPrune = now + PRUNE_EVERY_MS;
    const cutoff = this.#latestMs - this.#longestWindowMs;
    for (const [id, times] of this.#windows) if (Math.max(...times) <= cutoff) this.#windows.delete(id);
  }

  /** Rewrites the log with what is still inside a window (under the lock); a line another process appends meanwhile may be lost. */
  async #compactIfLarge(nowMs: number): Promise<void> {
    const log = await this.#openLog();
    if (log.offset < this.compactBytes) return;
    // Our own last lines (the reset of the breaker just opened) must be in the windows we write out.
    await this.#catchUp();
    const since = nowMs - this.#longestWindowMs;
    const lines: string[] = [];
    for (const [id, times] of this.#windows) for (const t of times) if (t > since) lines.push(JSON.stringify({ v: id, t }));
    const temp = join(this.root, `${tempName('breaker-violations')}.tmp`);
    await writeFile(temp, lines.length ? lines.join('\n') + '\n' : '');
    await rename(temp, this.#logPath);
    await this.close();
    this.#windows.clear();
    await this.#catchUp();
  }

  async #openLog(): Promise<LogState> {
    if (this.#log) return this.#log;
    // One open at a time: concurrent callers share it.
    if (!this.#opening) {
      this.#opening = (async () => {
        const handle = await open(this.#logPath, 'a+');
        this.#log = { handle, ino: (await handle.stat()).ino, offset: 0, rest: '' };
      })().finally(() => (this.#opening = null));
    }
    await this.#opening;
    if (!this.#log) throw new StoreUnavailableError('store is closed');
    return this.#log;
  }

  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run(LOCK, () => withDirLock(this.#lock, fn));
  }

  async #writeOpen(file: BreakerFile): Promise<void> {
    await replaceFileAtomically(this.root, FILE, JSON.stringify(file));
    this.#cache = null;
  }

  /**
   * The open breakers, checked with one synchronous stat. Once per message while
   * a breaker is configured: an async stat costs ~50 µs of promise and
   * thread-pool overhead against ~3 µs for a stat of one local file, which does
   * not hold the event loop noticeably. The content is read (async) only after a change.
   */
  #readOpen(): BreakerFile {
    const stamp = this.#stamp();
    if (stamp === null) return EMPTY;
    if (this.#cache?.stamp === stamp) return this.#cache.content;
    // Changed: read it now (synchronously too: small, and rare — it changes when a breaker opens or is reset).
    return this.#load(stamp, readFileSync(this.#path, 'utf8'));
  }

  async #readOpenFresh(): Promise<BreakerFile> {
    const stamp = this.#stamp();
    if (stamp === null) return EMPTY;
    if (this.#cache?.stamp === stamp) return this.#cache.content;
    return this.#load(stamp, await readFile(this.#path, 'utf8'));
  }

  #stamp(): string | null {
    const s = statSync(this.#path, { throwIfNoEntry: false });
    return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : null;
  }

  #load(stamp: string, text: string): BreakerFile {
    const content = parse(text);
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
