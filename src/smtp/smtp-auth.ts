// SMTP AUTH for the ingress: the user table (checked at start-up), the credential
// check (constant-time, unknown users cost the same as known ones) and the
// per-client failed-attempt limiter. smtp-server wiring stays in ingress.ts.

import { ConfigError } from '../config/load.js';
import type { MailGuardConfig } from '../config/schema.js';
import { dummyHash, MalformedPasswordHash, parsePasswordHash, verifyParsed, type ParsedPasswordHash } from './password-hash.js';
import type { SmtpReply } from './replies.js';

type AuthConfig = MailGuardConfig['smtp']['auth'];

export const authReplies = {
  // 5.7.11: encryption required for requested authentication mechanism (RFC 4954).
  tlsFirst: (): SmtpReply => ({ code: 538, enhanced: '5.7.11', text: 'Must issue a STARTTLS command first; AUTH is only offered over TLS' }),
  required: (): SmtpReply => ({ code: 530, enhanced: '5.7.0', text: 'Authentication required; use AUTH after STARTTLS' }),
  invalid: (): SmtpReply => ({ code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid' }),
  temporaryFailure: (): SmtpReply => ({ code: 454, enhanced: '4.7.0', text: 'Temporary authentication failure; try again later' }),
  rateLimited: (): SmtpReply => ({
    code: 421,
    enhanced: '4.7.0',
    text: 'Too many failed authentication attempts from your address; try again later',
  }),
} as const;

export interface AuthLimits {
  /** Failures (plus checks still running) from one client address that lock it out. */
  readonly maxFailures: number;
  readonly windowMs: number;
  /** Client addresses tracked at most; the least recently failing are forgotten first. */
  readonly maxTrackedClients: number;
}

export const DEFAULT_AUTH_LIMITS: AuthLimits = { maxFailures: 5, windowMs: 10 * 60_000, maxTrackedClients: 10_000 };

interface ClientFailures {
  /** Failure times, oldest first, at most maxFailures of them. */
  times: number[];
  /** Credential checks in progress: counted so parallel connections cannot race past the limit. */
  pending: number;
}

/**
 * Failed AUTH attempts per client address in a sliding window. Success never
 * clears a counter (one valid account must not buy unlimited guesses at others);
 * entries expire with the window and the map is capped.
 */
export class AuthFailureLimiter {
  private readonly clients = new Map<string, ClientFailures>();

  constructor(
    private readonly limits: AuthLimits = DEFAULT_AUTH_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when this address may not try again yet. */
  blocked(address: string): boolean {
    const entry = this.current(address);
    return entry !== undefined && entry.times.length + entry.pending >= this.limits.maxFailures;
  }

  /** Reserves an attempt; false (nothing reserved) when the address is locked out. */
  begin(address: string): boolean {
    if (this.blocked(address)) return false;
    this.touch(address).pending++;
    return true;
  }

  /** Ends a reserved attempt. */
  end(address: string, failed: boolean): void {
    const entry = this.clients.get(address);
    if (entry) entry.pending = Math.max(0, entry.pending - 1);
    if (failed) {
      const e = this.touch(address);
      e.times.push(this.now());
      if (e.times.length > this.limits.maxFailures) e.times.shift();
    } else if (entry && entry.pending === 0 && entry.times.length === 0) {
      this.clients.delete(address);
    }
  }

  get size(): number {
    return this.clients.size;
  }

  private current(address: string): ClientFailures | undefined {
    const entry = this.clients.get(address);
    if (!entry) return undefined;
    const cutoff = this.now() - this.limits.windowMs;
    while (entry.times.length > 0 && entry.times[0]! <= cutoff) entry.times.shift();
    if (entry.times.length === 0 && entry.pending === 0) {
      this.clients.delete(address);
      return undefined;
    }
    return entry;
  }

  /** The entry for an address, moved to the most recent end (Map order = eviction order). */
  private touch(address: string): ClientFailures {
    const entry = this.current(address) ?? { times: [], pending: 0 };
    this.clients.delete(address);
    if (this.clients.size >= this.limits.maxTrackedClients) this.evict();
    this.clients.set(address, entry);
    return entry;
  }

  private evict(): void {
    const cutoff = this.now() - this.limits.windowMs;
    for (const [address, entry] of this.clients) {
      const last = entry.times[entry.times.length - 1];
      if (entry.pending === 0 && (last === undefined || last <= cutoff)) this.clients.delete(address);
    }
    // Still full: forget the least recently failing clients (a bounded map beats an unbounded one).
    const excess = this.clients.size - this.limits.maxTrackedClients + 1;
    if (excess <= 0) return;
    let dropped = 0;
    for (const address of this.clients.keys()) {
      if (dropped++ >= excess) break;
      this.clients.delete(address);
    }
  }
}

export interface SmtpAuthenticator {
  /** The user name on success, null otherwise. Takes about as long for unknown users as for known ones. */
  verify(username: string, password: string): Promise<string | null>;
}

/** Builds the user table from config; a malformed hash or a duplicate name stops start-up naming the key. */
export function createAuthenticator(config: AuthConfig): SmtpAuthenticator {
  const users = new Map<string, ParsedPasswordHash>();
  config.users.forEach((user, i) => {
    if (users.has(user.name)) throw new ConfigError(`smtp.auth.users[${i}].name: user "${user.name}" is listed twice`);
    try {
      users.set(user.name, parsePasswordHash(user.passwordHash));
    } catch (err) {
      if (err instanceof MalformedPasswordHash) throw new ConfigError(`smtp.auth.users[${i}].passwordHash: ${err.message}`);
      throw err;
    }
  });
  const first = users.values().next().value;
  const dummy = dummyHash(first ? { N: first.N, r: first.r, p: first.p, keyBytes: first.key.length } : undefined);
  return {
    async verify(username, password) {
      const known = users.get(username);
      const ok = await verifyParsed(password, known ?? dummy);
      return ok && known ? username : null;
    },
  };
}
