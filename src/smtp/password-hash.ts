// SMTP AUTH password hashes: `scrypt$N$r$p$<salt base64>$<key base64>`, made by
// `mail-guard hash-password` and checked with node:crypto alone. Comparison is
// constant-time. The format itself (parse, bounds) is config/password-hash-format.ts,
// which the config schema uses to refuse a malformed hash naming its key.

import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { parsePasswordHash, scryptMemoryBytes, type ParsedPasswordHash } from '../config/password-hash-format.js';

export const SCRYPT_DEFAULTS = { N: 16_384, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const;

function derive(password: string, salt: Buffer, keyBytes: number, h: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { N: h.N, r: h.r, p: h.p, maxmem: scryptMemoryBytes(h) + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, keyBytes, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const { N, r, p, saltBytes, keyBytes } = SCRYPT_DEFAULTS;
  const salt = randomBytes(saltBytes);
  const key = await derive(password, salt, keyBytes, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Constant-time check against a parsed hash (the form the SMTP listener keeps in memory). */
export async function verifyParsed(password: string, hash: ParsedPasswordHash): Promise<boolean> {
  const key = await derive(password, hash.salt, hash.key.length, hash);
  return timingSafeEqual(key, hash.key);
}

/** Rejects with MalformedPasswordHash for an unusable hash; resolves false for a wrong password. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  return verifyParsed(password, parsePasswordHash(encoded));
}

/**
 * A hash no password matches (random key), with the given cost: checking an unknown
 * user against it takes as long as checking a known one.
 */
export function dummyHash(like: Pick<ParsedPasswordHash, 'N' | 'r' | 'p'> & { keyBytes?: number } = SCRYPT_DEFAULTS): ParsedPasswordHash {
  return {
    N: like.N,
    r: like.r,
    p: like.p,
    salt: randomBytes(SCRYPT_DEFAULTS.saltBytes),
    key: randomBytes(like.keyBytes ?? SCRYPT_DEFAULTS.keyBytes),
  };
}
