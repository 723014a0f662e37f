// SMTP AUTH for the ingress: the user table, the credential check (constant-time,
// unknown users cost the same as known ones) and the per-client failed-attempt
// limiter. smtp-server wiring stays in ingress.ts.

import { parsePasswordHash, type ParsedPasswordHash } from '../config/password-hash-format.js';
import type { MailGuardConfig } from '../config/schema.js';
import { dummyHash, verifyParsed } from './password-hash.js';
import type { SmtpReply } from '../reply/replies.js';

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
  /** Failed logins from one client address within the window that lock it out. */
  readonly maxFailures: number;
  readonly windowMs: number;
  /** Client addresses tracked at most; the least recently failing are forgotten first. */
  readonly maxTrackedClients: number;
}

export const DEFAULT_AUTH_LIMITS: AuthLimits = { maxFailures: 5, windowMs: 10 * 60_000, maxTrackedClients: 10_000 };

interface ClientFailures {
  /** Failure times, oldest first, at most maxFailures of them. */
  times: number[];
  /** Credential checks in progress. */
  pending: number;
  /** Attempts waiting for a check in progress to end (only ever while pending > 0). */
  waiting: Array<(admitted: boolean) => void>;
}

/** A check in flight or an attempt waiting: end() will need the entry. */
const busy = (entry: ClientFailures): boolean => entry.pending > 0 || entry.waiting.length > 0;

/**
 * The failed-login limiter as the ingress uses it: an AuthFailureLimiter in one
 * process; with several worker processes a client of the one limiter they share
 * (src/workers/shared-limits.ts), whose blocked() answers from what it was told.
 */
export interface AuthAttempts {
  /** True when this address is locked out (the gate before AUTH reads credentials). */
  blocked(address: string): boolean;
  /** Reserves an attempt: true once it may run (then end() must follow), false when locked out. */
  begin(address: string): Promise<boolean>;
  /** Ends a reserved attempt; true when this failure locked the address out (once per lockout). */
  end(address: string, failed: boolean): boolean | Promise<boolean>;
}

/**
 * Failed AUTH attempts per client address in a sliding window. Only a failed
 * login counts: a check still running is no failure, so ten correct logins at
 * the same moment all go through. Parallel guesses still cannot race past the
 * limit: an attempt that could, if every check in flight failed, make more than
 * maxFailures failures waits until one of them ends. Success never clears a
 * counter (one valid account must not buy unlimited guesses at others);
 * entries expire with the window and the map is capped.
 */
export class AuthFailureLimiter implements AuthAttempts {
  private readonly clients = new Map<string, ClientFailures>();

  constructor(
    private readonly limits: AuthLimits = DEFAULT_AUTH_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when this address is locked out: maxFailures failed logins within the window. */
  blocked(address: string): boolean {
    const entry = this.current(address);
    return entry !== undefined && entry.times.length >= this.limits.maxFailures;
  }

  /** When a locked-out address may try again (its oldest counted failure leaves the window), null when not locked out. */
  lockedUntil(address: string): number | null {
    if (!this.blocked(address)) return null;
    return this.clients.get(address)!.times[0]! + this.limits.windowMs;
  }

  /**
   * Reserves an attempt: resolves true once it may run (then end() must follow),
   * false (nothing reserved) when the address is locked out, also if it becomes
   * locked out while this attempt waited for its turn.
   */
  begin(address: string): Promise<boolean> {
    if (this.blocked(address)) return Promise.resolve(false);
    const entry = this.touch(address);
    if (this.hasRoom(entry)) {
      entry.pending++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => entry.waiting.push(resolve));
  }

  /** Ends a reserved attempt. True when this failure locked the address out (once per lockout). */
  end(address: string, failed: boolean): boolean {
    let entry = this.clients.get(address);
    if (entry) entry.pending = Math.max(0, entry.pending - 1);
    let lockedOut = false;
    if (failed) {
      const wasBlocked = this.blocked(address);
      entry = this.touch(address);
      entry.times.push(this.now());
      if (entry.times.length > this.limits.maxFailures) entry.times.shift();
      lockedOut = !wasBlocked && entry.times.length >= this.limits.maxFailures;
    }
    if (entry) this.admitWaiting(address, entry);
    if (entry && !busy(entry) && entry.times.length === 0) this.clients.delete(address);
    return lockedOut;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Room for one more check even if every check in flight fails. */
  private hasRoom(entry: ClientFailures): boolean {
    return entry.times.length + entry.pending < this.limits.maxFailures;
  }

  private admitWaiting(address: string, entry: ClientFailures): void {
    const locked = this.blocked(address);
    while (entry.waiting.length > 0 && (locked || this.hasRoom(entry))) {
      const resolve = entry.waiting.shift()!;
      if (!locked) entry.pending++;
      resolve(!locked);
    }
  }

  private current(address: string): ClientFailures | undefined {
    const entry = this.clients.get(address);
    if (!entry) return undefined;
    const cutoff = this.now() - this.limits.windowMs;
    while (entry.times.length > 0 && entry.times[0]! <= cutoff) entry.times.shift();
    if (entry.times.length === 0 && !busy(entry)) {
      this.clients.delete(address);
      return undefined;
    }
    return entry;
  }

  /** The entry for an address, moved to the most recent end (Map order = eviction order). */
  private touch(address: string): ClientFailures {
    const entry = this.current(address) ?? { times: [], pending: 0, waiting: [] };
    this.clients.delete(address);
    if (this.clients.size >= this.limits.maxTrackedClients) this.evict();
    this.clients.set(address, entry);
    return entry;
  }

  private evict(): void {
    const cutoff = this.now() - this.limits.windowMs;
    for (const [address, entry] of this.clients) {
      const last = entry.times[entry.times.length - 1];
      if (!busy(entry) && (last === undefined || last <= cutoff)) this.clients.delete(address);
    }
    // Still full: forget the least recently failing clients (a bounded map beats an
    // unbounded one). Not those with a check in flight: their end() and the attempts
    // waiting behind them need the entry, and there are at most as many as connections.
    let excess = this.clients.size - this.limits.maxTrackedClients + 1;
    for (const [address, entry] of this.clients) {
      if (excess <= 0) break;
      if (busy(entry)) continue;
      this.clients.delete(address);
      excess--;
    }
  }
}

export interface SmtpAuthenticator {
  /** The user name on success, null otherwise. Takes about as long for unknown users as for known ones. */
  verify(username: string, password: string): Promise<string | null>;
}

/**
 * Builds the user table from a validated config: the schema has already refused
 * duplicate names and malformed hashes, naming the key (config/schema.ts).
 */
export function createAuthenticator(config: AuthConfig): SmtpAuthenticator {
  const users = new Map<string, ParsedPasswordHash>(config.users.map((user) => [user.name, parsePasswordHash(user.passwordHash)]));
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
