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
  // one succeeds; the others see ENOENT and simply retry the mkdir.
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
