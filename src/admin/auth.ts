import { createHash, timingSafeEqual } from 'node:crypto';
import type { MailGuardConfig } from '../config/schema.js';
import type { Reviewer } from '../review/lifecycle.js';

export type AdminTokenConfig = MailGuardConfig['admin']['tokens'][number];
export type AdminRole = AdminTokenConfig['role'];

/** The person behind a token (review/lifecycle.ts: history entries and four-eyes compare by the name). */
export type AdminActor = Reviewer;

export type AuthResult = { readonly ok: true; readonly actor: AdminActor } | { readonly ok: false; readonly reason: 'missing' | 'invalid' };

/** Value of WWW-Authenticate on a 401 (RFC 6750 section 3). */
export function bearerChallenge(reason: 'missing' | 'invalid'): string {
  return reason === 'missing' ? 'Bearer realm="mail-guard"' : 'Bearer realm="mail-guard", error="invalid_token"';
}

/** The tokens, or how to read them now: a config reload (SIGHUP) replaces the list. */
export type ConfiguredTokens = readonly AdminTokenConfig[] | (() => readonly AdminTokenConfig[]);

/** What is derived from each token, worked out again only when the list is replaced. */
export function derivedFromTokens<T>(tokens: ConfiguredTokens, derive: (token: AdminTokenConfig) => T): () => readonly T[] {
  const read = typeof tokens === 'function' ? tokens : () => tokens;
  let source: readonly AdminTokenConfig[] | null = null;
  let derived: readonly T[] = [];
  return () => {
    const now = read();
    if (now !== source) {
      source = now;
      derived = now.map(derive);
    }
    return derived;
  };
}

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/**
 * Checks `Authorization: Bearer <token>` against the configured sha256 hashes.
 * Only hashes are configured, so a leaked config file does not leak tokens; the
 * presented token is hashed and compared with every configured hash in constant
 * time (no early exit, so timing does not tell which or how many prefixes match).
 * The token itself is never stored, logged or echoed.
 */
export function createTokenVerifier(tokens: ConfiguredTokens): (authorization: string | undefined) => AuthResult {
  const knownTokens = derivedFromTokens(tokens, (t) => ({ digest: Buffer.from(t.tokenSha256, 'hex'), actor: { name: t.name, role: t.role } }));
  return (authorization) => {
    const known = knownTokens();
    if (authorization === undefined || authorization.trim() === '') return { ok: false, reason: 'missing' };
    const token = BEARER.exec(authorization)?.[1];
    if (token === undefined) return { ok: false, reason: 'invalid' };
    const presented = createHash('sha256').update(token, 'utf8').digest();
    let match: AdminActor | null = null;
    for (const k of known) {
      if (k.digest.length === presented.length && timingSafeEqual(k.digest, presented) && match === null) match = k.actor;
    }
    return match ? { ok: true, actor: match } : { ok: false, reason: 'invalid' };
  };
}
