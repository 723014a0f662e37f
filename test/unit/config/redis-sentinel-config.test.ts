// store.redisWaitReplicas / redisWaitTimeoutMs: what the config accepts, refuses
// (naming the key) and prints; Sentinel credentials in redisOptions are masked.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../../src/config/load.js';
import { printableConfig } from '../../../src/config/print.js';

const errorOf = (yaml: string): string => {
  try {
    parseConfigText(yaml, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

const SENTINEL = 'redisOptions: { sentinels: [{ host: 127.0.0.1, port: 26379 }], name: mail-guard }';

describe('config: store through Redis Sentinel', () => {
  it('waits for no replica by default, and for the given number with Sentinel', () => {
    expect(parseConfigText('').store).toMatchObject({ redisWaitReplicas: 0, redisWaitTimeoutMs: 250 });
    const config = parseConfigText(`store: { type: redis, ${SENTINEL}, redisWaitReplicas: 1, redisWaitTimeoutMs: 400 }\n`);
    expect(config.store).toMatchObject({ type: 'redis', redisWaitReplicas: 1, redisWaitTimeoutMs: 400 });
    const printed = printableConfig(config);
    expect(printed).toContain('redisWaitReplicas: 1');
    expect(printed).toContain('redisWaitTimeoutMs: 400');
  });

  it.each([
    ['store: { redisWaitReplicas: 1 }\n', 'test.yaml: store.redisWaitReplicas: waits for Redis replicas: only with store.type redis'],
    ['store: { type: redis, redisWaitReplicas: -1 }\n', 'test.yaml: store.redisWaitReplicas: '],
    ['store: { type: redis, redisWaitReplicas: 1.5 }\n', 'test.yaml: store.redisWaitReplicas: '],
    [
      'store: { type: redis, redisWaitReplicas: 1, redisOptions: { cluster: [{ host: 127.0.0.1, port: 7000 }] } }\n',
      'test.yaml: store.redisWaitReplicas: not with a Redis Cluster',
    ],
    [
      'store: { type: redis, redisWaitReplicas: 1, redisWaitTimeoutMs: 1000 }\n',
      'test.yaml: store.redisWaitTimeoutMs: must be below the Redis command timeout',
    ],
    [
      'store: { type: redis, redisWaitReplicas: 1, redisWaitTimeoutMs: 600, redisOptions: { commandTimeout: 500 } }\n',
      'test.yaml: store.redisWaitTimeoutMs: must be below the Redis command timeout (redisOptions.commandTimeout, 500 ms)',
    ],
    ['store: { type: redis, redisWaitTimeoutMs: 0 }\n', 'test.yaml: store.redisWaitTimeoutMs: '],
  ])('names the key: %j', (yaml, expected) => {
    const message = errorOf(yaml);
    expect(message.startsWith(expected)).toBe(true);
  });

  it('accepts a WAIT timeout below a larger command timeout', () => {
    const config = parseConfigText('store: { type: redis, redisWaitReplicas: 2, redisWaitTimeoutMs: 1500, redisOptions: { commandTimeout: 2000 } }\n');
    expect(config.store.redisWaitTimeoutMs).toBe(1500);
  });

  it('masks the Redis and Sentinel passwords in redisOptions', () => {
    const config = parseConfigText(
      'store: { type: redis, redisOptions: { sentinels: [{ host: 127.0.0.1, port: 26379 }], name: mail-guard, password: s3cret, sentinelPassword: s3ntinel } }\n',
    );
    const printed = printableConfig(config);
    expect(printed).not.toContain('s3cret');
    expect(printed).not.toContain('s3ntinel');
    expect(printed).toContain('name: mail-guard');
  });
});
