import type { MailGuardConfig } from '../config/schema.js';
import type { Logger } from 'pino';
import { openFileStore } from './file-store.js';
import type { DeliveryLedger, MessageStore } from './message-store.js';
import { openRedisStore } from './redis-store.js';

type StoreConfig = MailGuardConfig['store'];
/** The store keys; the replica wait may be left out (tests and tools that build the object by hand: then none). */
export type OpenStoreConfig = Omit<StoreConfig, 'redisWaitReplicas' | 'redisWaitTimeoutMs'> &
  Partial<Pick<StoreConfig, 'redisWaitReplicas' | 'redisWaitTimeoutMs'>>;

/**
 * The store named by `store.type`; one that cannot be reached fails with
 * StoreUnavailableError. `logger` hears about a Redis not set up to keep held
 * mail (AOF off, an evicting maxmemory-policy).
 */
export async function openStore(
  config: OpenStoreConfig,
  logger?: Pick<Logger, 'warn'>,
  // The file store's ledger when another process owns it (workers); Redis shares its own.
  fileLedger?: DeliveryLedger & { close(): Promise<void> },
): Promise<MessageStore> {
  if (config.type === 'redis') {
    // ioredis's own commandTimeout option, read here so the store's fail-fast default cannot be lost by omission.
    const { commandTimeout, ...redisOptions } = config.redisOptions ?? {};
    return openRedisStore({
      url: config.url,
      redisOptions,
      commandTimeoutMs: typeof commandTimeout === 'number' && commandTimeout > 0 ? commandTimeout : undefined,
      onWarning: logger ? (message) => logger.warn(message) : undefined,
      ledgerHours: config.ledgerHours,
      replicaWait: { replicas: config.redisWaitReplicas ?? 0, timeoutMs: config.redisWaitTimeoutMs ?? 250 },
    });
  }
  return openFileStore(config.path, { ledgerHours: config.ledgerHours, ...(fileLedger ? { ledger: fileLedger } : {}) });
}
