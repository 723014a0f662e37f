import { randomFillSync } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

// One getrandom() call per id was 3% of the proxy's CPU; draw from a pool instead.
const POOL = Buffer.alloc(4096);
let poolOffset = POOL.length;
function randomTenBytes(): Buffer {
  if (poolOffset + 10 > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  poolOffset += 10;
  return POOL.subarray(poolOffset - 10, poolOffset);
}

/** A ULID's characters (Crockford base32, no I L O U), as a regular-expression fragment. */
export const MESSAGE_ID_PATTERN = '[0-9A-HJKMNP-TV-Z]{26}';
const MESSAGE_ID = new RegExp(`^${MESSAGE_ID_PATTERN}$`);

/** Ids are ULIDs; anything else never reaches a path, a key or a store query (no traversal, no dot files). */
export function isMessageId(id: unknown): id is string {
  return typeof id === 'string' && MESSAGE_ID.test(id);
}

/**
 * A ULID: 48-bit millisecond time + 80 random bits in Crockford base32. Sorts by
 * time as text, so the store can list newest first without a separate index,
 * and it is short enough to quote in an SMTP reply.
 */
export function newMessageId(now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const random = randomTenBytes();
  let rest = '';
  // 80 bits -> 16 characters of 5 bits
  let bits = 0;
  let value = 0;
  for (const byte of random) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      rest += CROCKFORD[(value >>> (bits - 5)) & 31]!;
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return time + rest;
}
