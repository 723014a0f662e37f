import {
  asAuditEntry,
  chainedEntry,
  checkAuditInput,
  checkAuditQuery,
  entriesOfLines,
  auditJsonLine,
  parseAuditLine,
  type AuditEntry,
  type AuditEntryInput,
} from './audit-chain.js';
import { KeyedMutex } from './file-lock.js';
import { StoreUnavailableError, type AuditLog } from './message-store.js';
import type { RedisClient } from './redis-client.js';

/** Appends that lose the race this many times in a row give up (each lost race is another process's append). */
const MAX_APPEND_ATTEMPTS = 100;

/**
 * The Redis store's audit log: one list, `{prefix}:audit:log`, oldest first.
 *
 * Order across processes: the hash is SHA-256, which Redis's Lua does not have
 * (it offers redis.sha1hex only), so the entry is built and hashed here and
 * appended by a compare-and-append script (redis-store-scripts.ts
 * AUDIT_APPEND): it pushes the entry only if the list still ends with the
 * entry it was chained to, else answers 0, and this side reads the new last
 * entry and tries again. Why not WATCH/MULTI: WATCH belongs to a connection,
 * and the store shares one connection (or one per Cluster node) between all
 * its concurrent commands, so a WATCH taken for one append would be disturbed
 * or cleared by another's EXEC; a script is one atomic step on the server,
 * needs no connection of its own and works the same on a Cluster (one key).
 * Appends from this process queue first, so they never race each other.
 *
 * Durable as the rest of the Redis store: as far as Redis's AOF setting makes
 * it (mail-guard warns at start when appendonly is off).
 */
export class RedisAuditLog implements AuditLog {
  readonly #mutex = new KeyedMutex();

  constructor(
    private readonly client: RedisClient,
    private readonly key: string,
    /** Runs AUDIT_APPEND; null when opened read only. */
    private readonly compareAndAppend: ((last: string, entry: string) => Promise<unknown>) | null,
    /** The store's error mapping: anything but a caller's mistake becomes StoreUnavailableError. */
    private readonly guard: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {}

  async append(input: AuditEntryInput): Promise<AuditEntry> {
    const run = this.compareAndAppend;
    if (run === null) throw new StoreUnavailableError('the audit log was opened read only');
    const checked = checkAuditInput(input);
    return this.#mutex.run('append', () =>
      this.guard(async () => {
        for (let attempt = 1; attempt <= MAX_APPEND_ATTEMPTS; attempt++) {
          const lastLine = await this.client.lindex(this.key, -1);
          let last: AuditEntry | null = null;
          if (lastLine !== null) {
            last = asAuditEntry(parseAuditLine(lastLine));
            if (!last) {
              throw new StoreUnavailableError(
                'the last element of the audit log is not an audit entry (it was changed outside mail-guard); nothing more can be audited until an operator looks: run mail-guard audit verify',
              );
            }
          }
          const entry = chainedEntry(last, checked, new Date());
          if (Number(await run(lastLine ?? '', auditJsonLine(entry))) > 0) return entry;
        }
        throw new StoreUnavailableError(`audit: ${MAX_APPEND_ATTEMPTS} appends in a row lost the race to other processes`);
      }),
    );
  }

  async read(query: { readonly after?: number; readonly limit: number }): Promise<readonly AuditEntry[]> {
    const { after } = checkAuditQuery(query);
    return entriesOfLines(await this.readLines(query), after);
  }

  /** The stored elements themselves, for `audit verify`: the same window as read(), nothing parsed. */
  async readLines(query: { readonly after?: number; readonly limit: number }): Promise<readonly string[]> {
    const { after, limit } = checkAuditQuery(query);
    return this.guard(() => this.client.lrange(this.key, after, after + limit - 1));
  }
}
