import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { derivedFromTokens, type AdminActor, type AdminTokenConfig, type ConfiguredTokens } from '../auth.js';

// Console sessions without server-side state: the cookie holds who signed in
// (token name and role), a random session id, an expiry, and a fingerprint of
// the token they used, signed with HMAC-SHA256. Every request checks the
// signature and the expiry, and then the configured tokens again: a token that
// was removed, renamed, given another role or rotated ends its sessions at once.
// The key is admin.sessionSecret, else random per process (sessions then end
// when mail-guard restarts). CSRF tokens are an HMAC of the session id, so a
// form token is useless to anyone but the session it was rendered for.

export const SESSION_COOKIE = 'mg_session';
/** One shift. */
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;

export interface Session {
  readonly actor: AdminActor;
  /** Random per sign-in; the CSRF token is derived from it. */
  readonly id: string;
  readonly expiresAt: number;
}

interface Payload {
  readonly n: string;
  readonly r: string;
  readonly s: string;
  readonly e: number;
  readonly f: string;
}

export interface SessionKeeper {
  /** The configured token a presented one matches (constant time over all of them), or null. */
  match(presented: string): AdminTokenConfig | null;
  issue(token: AdminTokenConfig): { cookie: string; session: Session };
  read(cookie: string | undefined): Session | null;
  csrfToken(session: Session): string;
  checkCsrf(session: Session, presented: unknown): boolean;
}

const b64 = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export function createSessionKeeper(tokens: ConfiguredTokens, secret: string | undefined, now: () => number = Date.now): SessionKeeper {
  const key = secret === undefined ? randomBytes(32) : createHash('sha256').update(`mail-guard console session key\0${secret}`).digest();
  const mac = (purpose: string, data: string): Buffer => createHmac('sha256', key).update(`${purpose}\0${data}`).digest();
  const fingerprint = (token: AdminTokenConfig): string => b64(mac('token', token.tokenSha256.toLowerCase()).subarray(0, 16));
  const same = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);
  const knownTokens = derivedFromTokens(tokens, (t) => ({ token: t, digest: Buffer.from(t.tokenSha256, 'hex') }));

  return {
    match(presented) {
      const digest = createHash('sha256').update(presented, 'utf8').digest();
      let found: AdminTokenConfig | null = null;
      // No early exit: the time does not tell which token, or how many, were compared.
      for (const k of knownTokens()) if (same(k.digest, digest) && found === null) found = k.token;
      return found;
    },
    issue(token) {
      const session: Session = { actor: { name: token.name, role: token.role }, id: b64(randomBytes(18)), expiresAt: now() + SESSION_TTL_MS };
      const payload: Payload = { n: token.name, r: token.role, s: session.id, e: session.expiresAt, f: fingerprint(token) };
      const body = b64(JSON.stringify(payload));
      return { cookie: `${body}.${b64(mac('session', body))}`, session };
    },
    read(cookie) {
      if (!cookie || cookie.length > 2048) return null;
      const [body, signature, extra] = cookie.split('.');
      if (!body || !signature || extra !== undefined) return null;
      // Compared as text: base64url ignores the spare low bits of its last character, so
      // decoding first would accept another spelling of the same signature.
      if (!same(Buffer.from(signature), Buffer.from(b64(mac('session', body))))) return null;
      let payload: Payload;
      try {
        payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
      } catch {
        return null;
      }
      if (typeof payload.e !== 'number' || payload.e <= now()) return null;
      // The configured tokens decide, not the cookie: same name, same role, same token.
      const token = knownTokens().find(({ token: t }) => t.name === payload.n && t.role === payload.r && fingerprint(t) === payload.f);
      if (!token) return null;
      return { actor: { name: token.token.name, role: token.token.role }, id: String(payload.s), expiresAt: payload.e };
    },
    csrfToken(session) {
      return b64(mac('csrf', session.id));
    },
    checkCsrf(session, presented) {
      return typeof presented === 'string' && presented.length < 200 && same(Buffer.from(presented, 'utf8'), Buffer.from(b64(mac('csrf', session.id)), 'utf8'));
    },
  };
}
