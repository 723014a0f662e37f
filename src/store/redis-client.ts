import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';

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
 * so the next command asks the sentinels for the new primary; the sentinels'
 * +switch-master does the same at once (failoverDetector).
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
    ...(sentinel ? { failoverDetector: true, sentinelRetryStrategy: (times: number): number => Math.min(times * 100, 500) } : {}),
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

/** What an operator must change for Redis to keep held mail; empty when it is set up right. */
export async function durabilityWarnings(client: RedisClient): Promise<string[]> {
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
