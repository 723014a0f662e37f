// The format of smtp.auth.users[].passwordHash: `scrypt$N$r$p$<salt base64>$<key base64>`,
// as `mail-guard hash-password` writes it. Parsed here, with no I/O, so the config
// schema refuses a malformed hash naming its key; smtp/password-hash.ts derives and
// compares keys with node:crypto.

// Bounds for hashes read from config: generous for stronger settings, but a typo
// must not make each AUTH attempt cost gigabytes or minutes.
const MAX_MEMORY_BYTES = 256 * 1024 * 1024;
const MIN_SALT_BYTES = 8;
const MIN_KEY_BYTES = 16;
const MAX_KEY_BYTES = 128;

export interface ParsedPasswordHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

export class MalformedPasswordHash extends Error {
  override readonly name = 'MalformedPasswordHash';
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function decodeBase64(field: string, what: string): Buffer {
  const bytes = BASE64.test(field) ? Buffer.from(field, 'base64') : Buffer.alloc(0);
  // Round-trip so stray characters or a truncated value never decode "mostly".
  if (bytes.length === 0 || bytes.toString('base64').replace(/=+$/, '') !== field.replace(/=+$/, '')) {
    throw new MalformedPasswordHash(`${what} is not valid base64`);
  }
  return bytes;
}

function positiveInteger(field: string, what: string): number {
  if (!/^[1-9]\d{0,9}$/.test(field)) throw new MalformedPasswordHash(`${what} is not a positive integer`);
  return Number(field);
}

/** Parses and bounds-checks an encoded hash; throws MalformedPasswordHash with a reason (never the hash itself). */
export function parsePasswordHash(encoded: string): ParsedPasswordHash {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') {
    throw new MalformedPasswordHash('expected scrypt$N$r$p$<salt base64>$<hash base64> (see mail-guard hash-password)');
  }
  const [, n, r, p, salt, key] = parts as [string, string, string, string, string, string];
  const parsed = {
    N: positiveInteger(n, 'N'),
    r: positiveInteger(r, 'r'),
    p: positiveInteger(p, 'p'),
    salt: decodeBase64(salt, 'salt'),
    key: decodeBase64(key, 'hash'),
  };
  if (parsed.N < 2 || (parsed.N & (parsed.N - 1)) !== 0) throw new MalformedPasswordHash('N must be a power of two');
  if (parsed.r > 64 || parsed.p > 16) throw new MalformedPasswordHash('r or p is out of range');
  if (scryptMemoryBytes(parsed) > MAX_MEMORY_BYTES) throw new MalformedPasswordHash('N and r need more than 256 MiB per check');
  if (parsed.salt.length < MIN_SALT_BYTES) throw new MalformedPasswordHash(`salt is shorter than ${MIN_SALT_BYTES} bytes`);
  if (parsed.key.length < MIN_KEY_BYTES || parsed.key.length > MAX_KEY_BYTES) {
    throw new MalformedPasswordHash(`hash must be ${MIN_KEY_BYTES}–${MAX_KEY_BYTES} bytes`);
  }
  return parsed;
}

/** What OpenSSL allocates for one scrypt check: V (128·r·(N+2)) plus B (128·r·p). */
export function scryptMemoryBytes(h: { N: number; r: number; p: number }): number {
  return 128 * h.r * (h.N + h.p + 2);
}
