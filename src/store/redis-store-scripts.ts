/**
 * Lua for the Redis store. Every script that changes a record runs as one
 * atomic step on the server, which is what makes a transition, and above all
 * a release claim, happen at most once however many proxies share the Redis.
 *
 * Key layout (all keys share the hash tag `{<prefix>}` so a Cluster keeps them
 * in one slot, where multi-key scripts are allowed):
 *   {p}:rec:<id>     hash: meta (JSON without status/history), status, score (receivedAt ms), claim
 *   {p}:raw:<id>     string: the message bytes
 *   {p}:hist:<id>    list: one JSON history entry per element, oldest first
 *   {p}:idx:all      sorted set: every id, scored by receivedAt ms
 *   {p}:idx:<status> sorted set per status, same scores
 *   {p}:audit:log    list: the audit log, one JSON entry per element, oldest first (redis-audit-log.ts)
 *   {p}:due          sorted set: delayed records nobody has claimed, scored by releaseAt ms (the hash keeps it as `due`)
 *   {p}:claims       sorted set: records with a claim that is not released, scored by leaseUntil ms (0: no lease)
 *
 * Scripts declare every key they touch (the status indexes are passed in
 * RECORD_STATUSES order), and report outcomes as a first element:
 * 'ok' | 'missing' | 'conflict' (+ current status, or 'releasing').
 * Redis refuses a script at its first write when it is out of memory, and
 * every script checks before it writes, so a refusal leaves nothing behind
 * (Redis does not roll back a script that fails half-way).
 *
 * SCRIPTS below is what the store hands to ioredis `defineCommand`, which
 * sends EVAL the first time a script runs on a connection, EVALSHA after,
 * and EVAL again when the server answers NOSCRIPT (restart, SCRIPT FLUSH,
 * failover to another master, a Cluster redirect to another node).
 */

import { RECORD_STATUSES } from './record.js';

/**
 * Helpers shared by the scripts: KEYS[1] is the record hash, KEYS[2] its
 * history (in the scripts that use them), and `base` the number of KEYS
 * before the status indexes; `dueKey` the index in KEYS of the due set
 * for the scripts that keep it (refresh_due).
 */
function prelude(base: number, dueKey = 0): string {
  return `
local DUE_KEY = ${dueKey}
local STATUSES = {${RECORD_STATUSES.map((s) => `'${s}'`).join(', ')}}
local function index_of(status)
  for i, s in ipairs(STATUSES) do
    if s == status then return KEYS[${base} + i] end
  end
  return nil
end
local function member(value, csv)
  for s in string.gmatch(csv, '[^,]+') do
    if s == value then return true end
  end
  return false
end
local function snapshot(status)
  local out = {'ok', redis.call('HGET', KEYS[1], 'meta'), status}
  for _, entry in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do out[#out + 1] = entry end
  return out
end
local function move(id, from, to)
  local score = redis.call('HGET', KEYS[1], 'score')
  redis.call('ZREM', index_of(from), id)
  redis.call('ZADD', index_of(to), score, id)
  redis.call('HSET', KEYS[1], 'status', to)
end
-- The due set holds delayed records nobody has claimed (DUE_KEY: its index in KEYS).
local function refresh_due(id, status)
  local due = redis.call('HGET', KEYS[1], 'due')
  if status == 'delayed' and due and redis.call('HEXISTS', KEYS[1], 'claim') == 0 then
    redis.call('ZADD', KEYS[DUE_KEY], due, id)
  else
    redis.call('ZREM', KEYS[DUE_KEY], id)
  end
end
`;
}

/** KEYS: rec, raw, hist, idx:all, idx:<status>, due. ARGV: id, meta, status, score, body, releaseAt ms ('' for none), history entries… */
export const PUT = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'conflict', redis.call('HGET', KEYS[1], 'status')}
end
redis.call('HSET', KEYS[1], 'meta', ARGV[2], 'status', ARGV[3], 'score', ARGV[4])
redis.call('SET', KEYS[2], ARGV[5])
for i = 7, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'due', ARGV[6])
  if ARGV[3] == 'delayed' then redis.call('ZADD', KEYS[6], ARGV[6], ARGV[1]) end
end
return {'ok'}
`;

/** KEYS: rec, hist, <7 status indexes>, due. ARGV: id, to, from (comma list), entry. */
export const TRANSITION = `${prelude(2, 3 + RECORD_STATUSES.length)}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if redis.call('HEXISTS', KEYS[1], 'claim') == 1 and status ~= 'released' then return {'conflict', 'releasing'} end
if not member(status, ARGV[3]) then return {'conflict', status} end
if not index_of(ARGV[2]) then return redis.error_reply('unknown status ' .. ARGV[2]) end
move(ARGV[1], status, ARGV[2])
refresh_due(ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[4])
return snapshot(ARGV[2])
`;

/** KEYS: rec, hist. ARGV: entry. */
export const APPEND_HISTORY = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
redis.call('RPUSH', KEYS[2], ARGV[1])
return {'ok'}
`;

/** KEYS: rec, hist, due, claims. ARGV: from (comma list), claim JSON, id, leaseUntil ms. */
export const CLAIM = `${prelude(2, 3)}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status == 'released' or status == 'discarded' then return {'conflict', status} end
if redis.call('HEXISTS', KEYS[1], 'claim') == 1 then return {'conflict', 'releasing'} end
if not member(status, ARGV[1]) then return {'conflict', status} end
redis.call('HSET', KEYS[1], 'claim', ARGV[2], 'lease', ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
refresh_due(ARGV[3], status)
return snapshot(status)
`;

/** KEYS: rec, claims. ARGV: id, leaseUntil ms, claim JSON with the new lease, holder (host:pid). */
export const RENEW = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
local claim = redis.call('HGET', KEYS[1], 'claim')
if status == 'released' or not claim then return {'conflict', status} end
-- Only the holder renews: a claim given back and taken again belongs to someone else.
local held = cjson.decode(claim)
if tostring(held['host']) .. ':' .. tostring(held['pid']) ~= ARGV[4] then return {'conflict', status} end
redis.call('HSET', KEYS[1], 'claim', ARGV[3], 'lease', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return {'ok'}
`;

/** KEYS: rec, hist, due, claims. ARGV: entry, id. */
export const ABANDON = `${prelude(2, 3)}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status == 'released' or redis.call('HEXISTS', KEYS[1], 'claim') == 0 then return {'conflict', status} end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'claim', 'lease')
redis.call('ZREM', KEYS[4], ARGV[2])
refresh_due(ARGV[2], status)
return {'ok'}
`;

/** KEYS: rec, hist, due, claims. ARGV: entry, id, now ms. Gives back only a claim whose lease ended (no lease: ended). */
export const RETRY_EXPIRED = `${prelude(2, 3)}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status == 'released' or redis.call('HEXISTS', KEYS[1], 'claim') == 0 then return {'conflict', status} end
local lease = tonumber(redis.call('HGET', KEYS[1], 'lease') or '0')
if lease >= tonumber(ARGV[3]) then return {'conflict', 'releasing'} end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'claim', 'lease')
redis.call('ZREM', KEYS[4], ARGV[2])
refresh_due(ARGV[2], status)
return snapshot(status)
`;

/** KEYS: rec, hist, <7 status indexes>, claims. ARGV: id, entry. The claim field stays: status released blocks any later claim. */
export const COMPLETE = `${prelude(2)}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status == 'released' or redis.call('HEXISTS', KEYS[1], 'claim') == 0 then return {'conflict', status} end
move(ARGV[1], status, 'released')
redis.call('ZREM', KEYS[3 + #STATUSES], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[2])
return snapshot('released')
`;

/** KEYS: rec, raw, hist, idx:all, <7 status indexes>, due, claims. ARGV: id, cutoff score, undecided statuses (comma list). */
export const PURGE_ONE = `${prelude(4)}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  -- An index entry without its record (should not happen): drop it everywhere.
  redis.call('ZREM', KEYS[4], ARGV[1])
  for _, s in ipairs(STATUSES) do redis.call('ZREM', index_of(s), ARGV[1]) end
  return 0
end
if member(status, ARGV[3]) then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'score')) >= tonumber(ARGV[2]) then return 0 end
if status ~= 'released' and redis.call('HEXISTS', KEYS[1], 'claim') == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', index_of(status), ARGV[1])
redis.call('ZREM', KEYS[5 + #STATUSES], ARGV[1])
redis.call('ZREM', KEYS[6 + #STATUSES], ARGV[1])
return 1
`;

/**
 * KEYS: index. ARGV: cursor score ('' for the first page), cursor id, count.
 * Returns id, score, id, score… newest first by (score, id). Members with the cursor's own score are
 * compared by id, so records received in the same millisecond are neither
 * skipped nor repeated across pages.
 */
export const PAGE = `
-- Byte order, as Redis sorts members; Lua's < on strings follows the server's locale.
local function before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local want = tonumber(ARGV[3])
if ARGV[1] == '' then
  return redis.call('ZREVRANGE', KEYS[1], 0, want - 1, 'WITHSCORES')
end
local cs = tonumber(ARGV[1])
local out = {}
local offset = 0
while #out < want * 2 do
  local batch = redis.call('ZREVRANGEBYSCORE', KEYS[1], cs, '-inf', 'WITHSCORES', 'LIMIT', offset, want)
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    if tonumber(batch[i + 1]) < cs or before(batch[i], ARGV[2]) then
      out[#out + 1] = batch[i]
      out[#out + 1] = batch[i + 1]
      if #out == want * 2 then break end
    end
  end
  offset = offset + want
end
return out
`;

/**
 * KEYS: audit log. ARGV: the last entry as the caller read it ('' for an empty
 * log), the new entry chained to it. Compare-and-append: appends only if the
 * log still ends with that entry, so of two processes that read the same last
 * entry exactly one appends and the other reads again (redis-audit-log.ts).
 * Returns the new length, or 0 when the log had moved on.
 */
export const AUDIT_APPEND = `
local last = redis.call('LINDEX', KEYS[1], -1) or ''
if last ~= ARGV[1] then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
return redis.call('LLEN', KEYS[1])
`;

const STATUS_INDEXES = RECORD_STATUSES.length;

/** Every script with its key count, which is fixed per script (the status indexes are always all passed). */
export const SCRIPTS = {
  put: { lua: PUT, numberOfKeys: 6 },
  transition: { lua: TRANSITION, numberOfKeys: 3 + STATUS_INDEXES },
  appendHistory: { lua: APPEND_HISTORY, numberOfKeys: 2 },
  claim: { lua: CLAIM, numberOfKeys: 4 },
  renew: { lua: RENEW, numberOfKeys: 2 },
  abandon: { lua: ABANDON, numberOfKeys: 4 },
  retryExpired: { lua: RETRY_EXPIRED, numberOfKeys: 4 },
  complete: { lua: COMPLETE, numberOfKeys: 3 + STATUS_INDEXES },
  purgeOne: { lua: PURGE_ONE, numberOfKeys: 6 + STATUS_INDEXES },
  page: { lua: PAGE, numberOfKeys: 1 },
  auditAppend: { lua: AUDIT_APPEND, numberOfKeys: 1 },
} as const satisfies Record<string, { readonly lua: string; readonly numberOfKeys: number }>;

export type ScriptName = keyof typeof SCRIPTS;
