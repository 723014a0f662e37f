import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { StoreUnavailableError } from './message-store.js';

export type RedisClient = Redis | Cluster;

/**
 * An ioredis client that fails fast: no offline queue (a queued command is a
 * hang, and a hang is a mailer waiting for its 250), a command timeout, one
 * retry. `redisOptions.sentinels` (+ `name`) selects Sentinel,
 * `redisOptions.cluster: [{host, port}]` a Cluster.
 *
 * Through a failover (see README "Stores"): a command whose connection died
 * is not sent again after the reconnect — its caller was already told the
 * store is unavailable (451), and a script replayed behind its back would
 * write a record or a claim nobody waits for. A READONLY reply (a primary
 * demoted to replica while the connection stayed open) drops the connection,
 * so the next command asks the sentinels for the new primary. (Not ioredis's
 * failoverDetector: a +switch-master that arrives while the client is still
 * reconnecting calls that attempt off, and ioredis then stops for good; the
 * soak saw two of three instances never come back.)
 */
export function createRedisClient(url: string, redisOptions: Record<string, unknown>, commandTimeout: number): RedisClient {
  const { cluster, clusterOptions, ...rest } = redisOptions;
  const failFast = { enableOfflineQueue: false, commandTimeout, lazyConnect: true, autoResendUnfulfilledCommands: false } as const;
  const reconnect = (times: number): number => Math.min(times * 200, 2000);
  if (Array.isArray(cluster)) {
    return new Cluster(cluster as ClusterNode[], {
      scaleReads: 'master',
      clusterRetryStrategy: reconnect,
      ...(clusterOptions as ClusterOptions | undefined),
      enableOfflineQueue: false,
      lazyConnect: true,
      redisOptions: { maxRetriesPerRequest: 1, ...(rest as ClusterOptions['redisOptions']), commandTimeout, autoResendUnfulfilledCommands: false },
    });
  }
  const sentinel = Array.isArray(rest['sentinels']);
  const nodeOptions: RedisOptions = {
    maxRetriesPerRequest: 1,
    // Sentinel: a lost primary is replaced within seconds, so try again sooner than for a lone server.
    retryStrategy: sentinel ? (times: number): number => Math.min(times * 100, 500) : reconnect,
    reconnectOnError: demotedPrimary,
    ...(sentinel ? { sentinelRetryStrategy: (times: number): number => Math.min(times * 100, 500) } : {}),
    ...(rest as RedisOptions),
    ...failFast,
  };
  // With sentinels the URL names no server: the sentinels name the master.
  return sentinel ? new Redis(nodeOptions) : new Redis(url, nodeOptions);
}

/** READONLY: this server is a replica now. Reconnect (to the primary Sentinel names); the command itself fails (1, not 2: never resend). */
function demotedPrimary(err: Error): boolean {
  return err.message.startsWith('READONLY');
}

/**
 * Connects `client` and PINGs it, or fails with StoreUnavailableError. Without
 * an 'error' listener ioredis prints every reconnect failure to the console; the
 * failures reach callers as StoreUnavailableError instead.
 */
export async function connectOrFail(client: RedisClient, closed: () => boolean): Promise<void> {
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    throw new StoreUnavailableError(`redis: cannot connect: ${(err as Error).message}`, { cause: err });
  }
  reconnectAfterEnd(client, closed);
}

/**
 * Another connection with the same options (Sentinel too), connected; on
 * failure `client` is disconnected as well. Not for a Cluster, where WAIT has
 * no one node to ask.
 */
export async function secondConnection<C extends RedisClient>(client: C, closed: () => boolean): Promise<C> {
  if (client instanceof Cluster) throw new RangeError('store.redisWaitReplicas: not with a Redis Cluster');
  const second = client.duplicate() as C;
  try {
    await connectOrFail(second, closed);
  } catch (err) {
    client.disconnect();
    throw err;
  }
  return second;
}

/**
 * ioredis ends a client for good ('end') when a connect attempt fails outright
 * (a Sentinel lookup called off mid-way) instead of retrying: start it again
 * until `closed()`, so an instance never stays cut off after a failover.
 */
function reconnectAfterEnd(client: RedisClient, closed: () => boolean): void {
  client.on('end', () => {
    if (closed()) return;
    setTimeout(() => {
      if (!closed()) client.connect().catch(() => undefined);
    }, 500).unref();
  });
}

/**
 * What an operator must change for Redis to keep held mail; empty when it is set up right.
 * `waitReplicas` (store.redisWaitReplicas): without min-replicas-to-write as high, a primary
 * left without replicas runs every write and only the WAIT after it fails: the mailer gets
 * 451 for a write that stays (a held record twice after the retry, a claim that blocks a
 * delayed message until its lease ends).
 */
export async function durabilityWarnings(client: RedisClient, waitReplicas = 0): Promise<string[]> {
  const warnings = await persistenceWarnings(client);
  if (waitReplicas > 0) {
    // CONFIG may be renamed away on a managed Redis: then nothing is said.
    const reply: unknown = await client.config('GET', 'min-replicas-to-write').catch(() => null);
    const configured = Array.isArray(reply) ? Number(reply[1]) : NaN;
    if (Number.isFinite(configured) && configured < waitReplicas) {
      warnings.push(
        `redis: min-replicas-to-write is ${configured}, below store.redisWaitReplicas ${waitReplicas}; set it to ${waitReplicas} on every server Sentinel may promote`,
      );
    }
  }
  return warnings;
}

async function persistenceWarnings(client: RedisClient): Promise<string[]> {
  let info: string;
  try {
    info = `${await client.info('persistence')}\n${await client.info('memory')}`;
  } catch {
    return ['redis: could not read INFO; make sure appendonly is yes and maxmemory-policy is noeviction'];
  }
  const field = (name: string): string | undefined => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const warnings: string[] = [];
  if (field('aof_enabled') === '0') warnings.push('redis: appendonly is off; a Redis restart loses held mail (set appendonly yes)');
  const policy = field('maxmemory_policy');
  if (policy !== undefined && policy !== 'noeviction') {
    warnings.push(`redis: maxmemory-policy is ${policy}; Redis may evict held mail (set maxmemory-policy noeviction)`);
  }
  return warnings;
}
