/*
 * Why our own lock and not proper-lockfile (4.1.2, the usual npm choice; issue 10
 * asked). Both take the lock with mkdir(2) and call a lock stale by its mtime
 * (10 s here, its default too), so they agree on the hard parts: a process
 * killed holding a lock blocks that one record for 10 s, a lock left by a
 * crash or power loss is broken the same way, and neither fsyncs the lock
 * (it guards no data; record.json is written and fsynced under it). Where
 * proper-lockfile differs, it is the worse trade for this store:
 *
 * - It retries on every error, not only EEXIST: with the 5 s wait we need, a
 *   record purged meanwhile (mkdir ENOENT) or an unusable disk (ENOTDIR)
 *   answers after 5 s instead of at once. Measured with the store tests
 *   unchanged: the contract suite went from ~3 s to ~18 s, each
 *   missing-record case taking 5.1 s. Avoiding that means writing our own
 *   retry loop round it anyway.
 * - It refreshes the mtime every stale/2 while held, which only helps holds
 *   longer than 10 s. Ours last milliseconds (read, write, fsync, rename). When
 *   a hold does run long (a paused process, a stalled NFS server) the refresh
 *   cannot run either, and all it does is call onCompromised after the fact.
 *   The default onCompromised throws from a timer and so crashes the proxy.
 *   It would also fire when purge renames a record directory away with its
 *   lock inside, if a refresh fell in that window. So we would need a handler
 *   that ignores it. Release-at-most-once does not rest on this lock anyway
 *   (see withDirLock).
 * - Loading it changes the whole process: graceful-fs patches fs.close and
 *   fs.closeSync, and signal-exit patches process.emit/reallyExit and adds
 *   SIGINT/SIGTERM/SIGHUP listeners beside serve's drain-then-force handler.
 * - Each lock costs one more file call than ours (mkdir, stat, rmdir against
 *   mkdir, rmdir), plus a timer. Given a retry count, the retry module it uses
 *   builds and sorts the whole wait schedule on every lock. bench/file-lock.mjs
 *   (busy 2-core VM): 1.2-1.6x our CPU per uncontended lock, and within noise
 *   with 256 records at once or 8 contenders. Either lock costs about a tenth
 *   of the fsynced update it guards, so cost alone would not decide it.
 * - Its clock handling is no better. Its refresh writes the holder's clock into
 *   the mtime with utimes, so on NFS, clients compare one client's clock
 *   against another's. Our mtime is the one mkdir set (on NFS, the server's
 *   clock). It has the same stat-then-remove race when breaking a stale lock
 *   (see breakIfStale).
 * - It is a dependency that has seen no release since 2021 (4.1.2, on
 *   signal-exit 3 and retry 0.12) in exchange for ~50 lines. It also offers a
 *   sync API and in-process bookkeeping, which we do not need (KeyedMutex
 *   queues callers in this process).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** A lock older than this belongs to a process that died holding it. */
const STALE_LOCK_MS = 10_000;
/** Waiting longer than this for a record means something is wrong: fail closed. */
const ACQUIRE_TIMEOUT_MS = 5_000;

export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
}

/**
 * Serialises read-modify-write of one record across processes sharing the
 * directory. mkdir(2) is atomic on every local file system and on NFSv3+,
 * unlike advisory locks, which Node does not expose anyway.
 *
 * The lock only guards against lost updates of record.json; release-at-most-
 * once does not depend on it (that is the O_EXCL release.claim file), so a
 * stale lock broken too early can at worst lose a history line, never send twice.
 */
export async function withDirLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ACQUIRE_TIMEOUT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(lockPath);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    await breakIfStale(lockPath);
    if (Date.now() > deadline) throw new LockTimeoutError(`lock ${lockPath} held for more than ${ACQUIRE_TIMEOUT_MS} ms`);
    await sleep(Math.min(2 + attempt, 25) + Math.random() * 5);
  }
  try {
    return await fn();
  } finally {
    await rmdir(lockPath).catch(() => undefined);
  }
}

async function breakIfStale(lockPath: string): Promise<void> {
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(lockPath)).mtimeMs;
  } catch {
    return;
  }
  if (Date.now() - mtimeMs < STALE_LOCK_MS) return;
  // Rename first so that of several processes breaking the same stale lock only
  // one succeeds; the others see ENOENT and simply retry the mkdir. A breaker
  // slow enough to rename after a third process has taken a fresh lock breaks
  // that one too (proper-lockfile's rmdir has the same window): at worst a
  // lost history line, as the comment on withDirLock says, never a second send.
  const aside = `${lockPath}.stale-${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return;
  }
  await rm(aside, { recursive: true, force: true }).catch(() => undefined);
}

/** In-process queue per key, so concurrent calls in one process do not spin on the directory lock. */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
