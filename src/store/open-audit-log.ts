import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { MailGuardConfig } from '../config/schema.js';
import { FileAuditLog } from './file-audit-log.js';
import { StoreUnavailableError, type AuditLog } from './message-store.js';
import { connectOrFail, createRedisClient } from './redis-client.js';
import { RedisAuditLog } from './redis-audit-log.js';
import { auditLogKey, DEFAULT_KEY_PREFIX } from './redis-store.js';

/** The audit log opened for reading only: what `mail-guard audit verify|export` use. */
export interface AuditReader extends Pick<AuditLog, 'read'> {
  /** The stored lines as they are, the same window as read(): verify judges them itself. */
  readLines(query: { readonly after?: number; readonly limit: number }): Promise<readonly string[]>;
  close(): Promise<void>;
}

/**
 * Opens only the audit log of the configured store, and writes nothing:
 * unlike openStore, no directory is created, no delivery ledger compacted, no
 * temp file swept, no script loaded. StoreUnavailableError when the store
 * cannot be reached (no such directory, Redis down).
 */
export async function openAuditReader(config: MailGuardConfig['store']): Promise<AuditReader> {
  if (config.type === 'redis') {
    const { commandTimeout, ...redisOptions } = config.redisOptions ?? {};
    const client = createRedisClient(config.url, redisOptions, typeof commandTimeout === 'number' && commandTimeout > 0 ? commandTimeout : 5000);
    let closed = false;
    await connectOrFail(client, () => closed);
    const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof StoreUnavailableError || err instanceof RangeError) throw err;
        throw new StoreUnavailableError(`redis: ${(err as Error).message ?? String(err)}`, { cause: err });
      }
    };
    const log = new RedisAuditLog(client, auditLogKey(`{${DEFAULT_KEY_PREFIX}}`), null, guard);
    return {
      read: (query) => log.read(query),
      readLines: (query) => log.readLines(query),
      close: async () => {
        closed = true;
        await client.quit().catch(() => client.disconnect());
      },
    };
  }
  const root = resolve(config.path);
  const isDir = await stat(root).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) throw new StoreUnavailableError(`no store directory at ${root} (store.path)`);
  const log = new FileAuditLog(root, { readOnly: true });
  return {
    read: (query) => log.read(query),
    readLines: (query) => log.readLines(query),
    close: async () => log.close(),
  };
}
