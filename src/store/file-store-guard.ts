import { LockTimeoutError } from './file-lock.js';
import { StoreConflictError, StoreUnavailableError } from './message-store.js';

/** Conflicts and caller mistakes pass through; every other failure means the disk cannot answer. */
export async function guarded<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StoreConflictError || err instanceof StoreUnavailableError || err instanceof RangeError) throw err;
    throw unavailable(what, err);
  }
}

export function unavailable(what: string, err: unknown): StoreUnavailableError {
  const e = err as NodeJS.ErrnoException;
  const detail = err instanceof LockTimeoutError ? e.message : (e.code ?? e.message ?? String(err));
  return new StoreUnavailableError(`${what}: ${detail}`, { cause: err });
}
