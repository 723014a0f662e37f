import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Empty files named after records, so the questions the delay scheduler asks
 * every half second — which delayed records are due, which release claims
 * expired — read one small directory instead of every record of the store
 * (with 5,000 records that walk cost about 270 ms of CPU per question).
 *
 * A marker is written *before* the state it points to and removed lazily,
 * when a reader finds that the state is gone: a crash in between leaves a
 * marker too many (found stale and removed), never a delayed record or a
 * claim nobody can find. A marker whose record does not exist (yet) is only
 * removed after GRACE_MS, so a put still under way keeps its marker.
 */
export class RecordMarkers {
  #made = false;

  constructor(readonly dir: string) {}

  async add(name: string): Promise<void> {
    if (!this.#made) {
      await mkdir(this.dir, { recursive: true });
      this.#made = true;
    }
    await writeFile(join(this.dir, name), '');
  }

  /** Sorted by name. */
  async names(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.dir, name), { force: true });
  }

  /** Removes a marker whose record is missing, once it is old enough not to belong to a write still under way. */
  async removeIfStale(name: string, nowMs: number): Promise<void> {
    const s = await stat(join(this.dir, name)).catch(() => null);
    if (s && s.mtimeMs < nowMs - GRACE_MS) await this.remove(name);
  }
}

const GRACE_MS = 60_000;

/** A due marker's name sorts by release time: `<releaseAt ms, 15 digits>.<id>`. */
export function dueMarker(releaseAt: string, id: string): string | null {
  const ms = Date.parse(releaseAt);
  return Number.isFinite(ms) && ms >= 0 ? `${String(ms).padStart(15, '0')}.${id}` : null;
}

export function parseDueMarker(name: string): { readonly atMs: number; readonly id: string } | null {
  const match = /^(\d{15})\.([0-9A-Za-z]+)$/.exec(name);
  return match ? { atMs: Number(match[1]), id: match[2]! } : null;
}
