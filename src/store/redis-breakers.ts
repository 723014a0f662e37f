import { randomBytes } from 'node:crypto';
import { breakerId, checkViolation, isBreakerId, senderKey } from './breaker-common.js';
import type { BreakerLimits, BreakerRecord, BreakerStore } from './message-store.js';
import type { RedisClient } from './redis-client.js';

/*
 * The Redis store's breakers, shared by every instance on the Redis. Keys (under
 * the store's hash tag, so a Cluster keeps them in the records' slot):
 *   {p}:breaker:open      hash: breaker id -> the open breaker as JSON
 *   {p}:breaker:v:<id>    sorted set: one member per violation, scored by its time (ms),
 *                         trimmed to the window and expiring with it
 * Counting and opening are one script, so of two instances counting the last
 * violation at once exactly one opens the breaker (and tells the people on duty).
 */

/**
 * KEYS: violations zset, open hash. ARGV: id, at (ms), window (ms), threshold,
 * member, sender, openedAt, windowSeconds, action.
 * Returns the breaker's JSON when this call opened it, else false.
 */
const RECORD_VIOLATION = `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return false end
local at = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', at - window)
redis.call('ZADD', KEYS[1], at, ARGV[5])
local count = redis.call('ZCARD', KEYS[1])
if count < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[1], window)
  return false
end
local breaker = cjson.encode({id = ARGV[1], sender = ARGV[6], openedAt = ARGV[7], violations = count,
  windowSeconds = tonumber(ARGV[8]), action = ARGV[9]})
redis.call('HSET', KEYS[2], ARGV[1], breaker)
redis.call('DEL', KEYS[1])
return breaker
`;

/** KEYS: violations zset, open hash. ARGV: id. Returns the breaker's JSON, or false when it was not open. */
const RESET = `
local breaker = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return breaker
`;

const SCRIPTS = {
  mailGuard_breakerViolation: RECORD_VIOLATION,
  mailGuard_breakerReset: RESET,
} as const;

type BreakerClient = RedisClient & { readonly [N in keyof typeof SCRIPTS]: (...keysThenArgs: string[]) => Promise<string | null> };

export class RedisBreakers implements BreakerStore {
  readonly #client: BreakerClient;
  readonly #open: string;

  constructor(
    client: RedisClient,
    private readonly tag: string,
    /** The store's guard: closed and unreachable become StoreUnavailableError. */
    private readonly guard: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {
    // defineCommand only adds a method (EVALSHA, EVAL on NOSCRIPT): fine on a connected client, a node or a Cluster.
    for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua, numberOfKeys: 2 });
    this.#client = client as BreakerClient;
    this.#open = `${tag}:breaker:open`;
  }

  async recordViolation(sender: string, at: Date, limits: BreakerLimits): Promise<BreakerRecord | null> {
    const atMs = checkViolation(sender, at, limits);
    const id = breakerId(sender);
    const reply = await this.guard(() =>
      this.#client.mailGuard_breakerViolation(
        this.#violations(id),
        this.#open,
        id,
        String(atMs),
        String(limits.windowSeconds * 1000),
        String(limits.violations),
        // Unique per call: two violations in one millisecond are two violations.
        `${atMs}-${randomBytes(6).toString('hex')}`,
        senderKey(sender),
        new Date(atMs).toISOString(),
        String(limits.windowSeconds),
        limits.action,
      ),
    );
    return reply ? decode(reply) : null;
  }

  async openFor(sender: string): Promise<BreakerRecord | null> {
    const reply = await this.guard(() => this.#client.hget(this.#open, breakerId(sender)));
    return reply ? decode(reply) : null;
  }

  async list(): Promise<readonly BreakerRecord[]> {
    const all = await this.guard(() => this.#client.hgetall(this.#open));
    return Object.values(all)
      .map(decode)
      .sort((a, b) => a.openedAt.localeCompare(b.openedAt) || a.id.localeCompare(b.id));
  }

  async reset(id: string): Promise<BreakerRecord | null> {
    if (!isBreakerId(id)) return null;
    const reply = await this.guard(() => this.#client.mailGuard_breakerReset(this.#violations(id), this.#open, id));
    return reply ? decode(reply) : null;
  }

  #violations(id: string): string {
    return `${this.tag}:breaker:v:${id}`;
  }
}

function decode(json: string): BreakerRecord {
  return JSON.parse(json) as BreakerRecord;
}
