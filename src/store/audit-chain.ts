import { createHash } from 'node:crypto';

// The audit log's hash chain (DESIGN.md "Audit log"), pure: what an entry is,
// its canonical form and hash, how the next entry is chained to the last one,
// and how a log is checked. Both stores and `mail-guard audit verify` use
// exactly this code, so what the stores write is what verify checks.
//
// Each entry holds `prev`, the hash of the entry before it (GENESIS for seq 1),
// and `hash`, the SHA-256 of its own canonical form, which covers prev. So a
// changed field breaks the entry's own hash, a removed entry leaves a gap in
// seq and a broken link, and a reordered pair breaks both. What a chain
// cannot show by itself is the loss of its newest entries: a log cut after seq
// 40 is a valid chain of 40. Only an anchor kept elsewhere catches that: the
// last hash that `audit verify` prints, given back later as `--expect-last`.

export const AUDIT_ACTIONS = ['sign-in', 'sign-out', 'view-raw', 'reveal', 'approve', 'release', 'discard', 'breaker-reset', 'retry-claim'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntryInput {
  /** The token name of the person (review/lifecycle.ts Reviewer.name). */
  readonly actor: string;
  readonly action: AuditAction;
  /** What it was done to: a record id, a campaign key, a breaker; null when nothing (sign-in). */
  readonly target: string | null;
  readonly note: string | null;
}

export interface AuditEntry extends AuditEntryInput {
  /** 1, 2, 3 … with no gap: the nth entry of the log has seq n. */
  readonly seq: number;
  /** ISO 8601, UTC, milliseconds: when the entry was appended. */
  readonly at: string;
  /** The hash of the entry before it; GENESIS for seq 1. */
  readonly prev: string;
  /** SHA-256 (hex) of canonicalAuditForm(this entry). */
  readonly hash: string;
}

/** The `prev` of the first entry. */
export const GENESIS = '0'.repeat(64);

export const MAX_AUDIT_ACTOR_CHARS = 200;
export const MAX_AUDIT_TARGET_CHARS = 500;
export const MAX_AUDIT_NOTE_CHARS = 4000;
/** The most entries one read() returns. */
export const MAX_AUDIT_READ = 1000;

/** Names the format, so a future change of the canonical form cannot be mistaken for this one. */
const FORMAT = 'mail-guard-audit-1';

/**
 * The bytes the hash is taken over: a JSON array in a fixed order. JSON.stringify
 * of numbers, strings and null is fully determined (lone surrogates included,
 * escaped since ES2019), and an array cannot be reordered by a key order.
 */
export function canonicalAuditForm(entry: Omit<AuditEntry, 'hash'>): string {
  return JSON.stringify([FORMAT, entry.seq, entry.at, entry.actor, entry.action, entry.target, entry.note, entry.prev]);
}

export function auditHash(entry: Omit<AuditEntry, 'hash'>): string {
  return createHash('sha256').update(canonicalAuditForm(entry), 'utf8').digest('hex');
}

/** The stored and exported form of an entry: one JSON line, keys in this order, no newline. */
export function auditJsonLine(entry: AuditEntry): string {
  const { seq, at, actor, action, target, note, prev, hash } = entry;
  return JSON.stringify({ seq, at, actor, action, target, note, prev, hash });
}

/** A caller's mistake, refused before anything is written (RangeError, as the stores do for bad queries). */
export function checkAuditInput(input: AuditEntryInput): AuditEntryInput {
  const { actor, action, target, note } = input;
  if (typeof actor !== 'string' || actor.length === 0 || actor.length > MAX_AUDIT_ACTOR_CHARS) {
    throw new RangeError(`audit: actor must be 1..${MAX_AUDIT_ACTOR_CHARS} characters`);
  }
  if (!AUDIT_ACTIONS.includes(action)) throw new RangeError(`audit: unknown action ${JSON.stringify(action)}`);
  if (target !== null && (typeof target !== 'string' || target.length > MAX_AUDIT_TARGET_CHARS)) {
    throw new RangeError(`audit: target must be null or at most ${MAX_AUDIT_TARGET_CHARS} characters`);
  }
  if (note !== null && (typeof note !== 'string' || note.length > MAX_AUDIT_NOTE_CHARS)) {
    throw new RangeError(`audit: note must be null or at most ${MAX_AUDIT_NOTE_CHARS} characters`);
  }
  return { actor, action, target, note };
}

/** The entry that follows `last` (null: the log is empty). */
export function chainedEntry(last: AuditEntry | null, input: AuditEntryInput, at: Date): AuditEntry {
  const { actor, action, target, note } = checkAuditInput(input);
  const unhashed = { seq: last === null ? 1 : last.seq + 1, at: at.toISOString(), actor, action, target, note, prev: last === null ? GENESIS : last.hash };
  return { ...unhashed, hash: auditHash(unhashed) };
}

const KEYS = ['seq', 'at', 'actor', 'action', 'target', 'note', 'prev', 'hash'];
const HEX64 = /^[0-9a-f]{64}$/;
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * The value as an AuditEntry if it has exactly the fields of one, each of the
 * right type; null otherwise. Says nothing about the hash: that is verify's.
 * A field the hash does not cover is refused too: it could be added unnoticed.
 */
export function asAuditEntry(value: unknown): AuditEntry | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  const keys = Object.keys(v);
  if (keys.length !== KEYS.length || !KEYS.every((k) => Object.hasOwn(v, k))) return null;
  const { seq, at, actor, action, target, note, prev, hash } = v;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return null;
  if (typeof at !== 'string' || !ISO_MS.test(at) || !Number.isFinite(Date.parse(at))) return null;
  if (typeof actor !== 'string' || actor.length === 0) return null;
  if (typeof action !== 'string' || !AUDIT_ACTIONS.includes(action as AuditAction)) return null;
  if (target !== null && typeof target !== 'string') return null;
  if (note !== null && typeof note !== 'string') return null;
  if (typeof prev !== 'string' || !HEX64.test(prev) || typeof hash !== 'string' || !HEX64.test(hash)) return null;
  return { seq, at, actor, action: action as AuditAction, target, note, prev, hash };
}

/** One stored or exported line → its value for the verifier; a line that is not JSON stays a string (and fails as "edited"). */
export function parseAuditLine(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return line;
  }
}

/** A stored entry that is not a well-formed entry: the log was edited outside mail-guard. */
export class AuditLogCorruptError extends Error {
  override readonly name = 'AuditLogCorruptError';
  constructor(
    /** 1-based place in the log, in stored order. */
    readonly position: number,
  ) {
    super(`audit log entry #${position} is not a well-formed audit entry: the log was changed outside mail-guard; run mail-guard audit verify`);
  }
}

/**
 * How a chain is broken. `edited`: an entry's content does not match its hash,
 * or it is not a well-formed entry. `removed`: seq jumps (entries are missing).
 * `reordered`: seq goes back, or a missing seq turns up later. `relinked`: an
 * entry's own hash is right but its prev is not the hash of the entry before:
 * that one (or this one) was rewritten with a recomputed hash, or entries before
 * it were removed or reordered and renumbered. `truncated`: the anchor given
 * (--expect-last) is not in the log, so entries after it are gone.
 */
export type ChainFault = 'edited' | 'removed' | 'reordered' | 'relinked' | 'truncated';

export interface ChainBreak {
  /** 1-based place in the log, in stored order, where the walk failed. */
  readonly position: number;
  /** The first seq that is not as it should be: the entry found there, or the first missing one. */
  readonly seq: number;
  /** When that entry was written; null when it is missing or unreadable. */
  readonly at: string | null;
  readonly fault: ChainFault;
  /** One sentence for a person. */
  readonly why: string;
}

/** `count`: the entries looked at (all of them when ok). */
export type ChainCheck =
  | { readonly ok: true; readonly count: number; readonly first: AuditEntry | null; readonly last: AuditEntry | null }
  | { readonly ok: false; readonly count: number; readonly bad: ChainBreak };

/**
 * Checks a log one entry at a time, in stored order, so a log of any length is
 * walked in constant memory. The first break is the verdict; after a gap the
 * verifier keeps watching the rest only to tell "removed" from "moved later"
 * (reordered), so a caller that wants that distinction keeps pushing until the
 * end (`settled` says when more entries cannot change the verdict).
 */
export class ChainVerifier {
  #count = 0;
  #first: AuditEntry | null = null;
  #last: AuditEntry | null = null;
  #bad: ChainBreak | null = null;
  #missing: { readonly from: number; readonly to: number } | null = null;
  #anchorSeen = false;

  /**
   * @param expectLast the hash of an entry that must be in the log (an anchor kept elsewhere).
   * @param start where the entries pushed begin when not at the start of the log: the seq of
   *   the first and the hash of the entry before it (a page of the log, checked with its link back).
   */
  constructor(
    private readonly expectLast: string | null = null,
    private readonly start: ChainStart | null = null,
  ) {}

  /** True once the verdict is final: a break that later entries cannot reclassify. */
  get settled(): boolean {
    return this.#bad !== null && this.#missing === null;
  }

  push(value: unknown): void {
    const position = ++this.#count;
    if (this.#bad) {
      // Only a gap is still open: does a missing seq turn up further down?
      const { seq, at } = (value ?? {}) as { seq?: unknown; at?: unknown };
      const gap = this.#missing;
      if (gap && typeof seq === 'number' && seq >= gap.from && seq <= gap.to) {
        this.#bad = {
          ...this.#bad,
          seq,
          at: typeof at === 'string' ? at : null,
          fault: 'reordered',
          why: `seq ${seq} is not where it belongs: it comes at #${position}, after seq ${gap.to + 1}`,
        };
        this.#missing = null;
      }
      return;
    }
    const expected = this.#last === null ? (this.start?.seq ?? 1) : this.#last.seq + 1;
    const entry = asAuditEntry(value);
    if (!entry) {
      const at = (value as { at?: unknown } | null)?.at;
      this.#fail({
        position,
        seq: expected,
        at: typeof at === 'string' ? at : null,
        fault: 'edited',
        why: `entry #${position} is not a well-formed audit entry (a field is missing, added, or of the wrong type)`,
      });
      return;
    }
    if (auditHash(entry) !== entry.hash) {
      this.#fail({
        position,
        seq: entry.seq,
        at: entry.at,
        fault: 'edited',
        why: 'its content does not match its hash: a field was changed after it was written',
      });
      return;
    }
    if (entry.seq < expected) {
      this.#fail({
        position,
        seq: entry.seq,
        at: entry.at,
        fault: 'reordered',
        why: `seq ${entry.seq} comes after seq ${expected - 1}: entries are out of order or repeated`,
      });
      return;
    }
    if (entry.seq > expected) {
      const missing = entry.seq - 1 === expected ? `seq ${expected} is missing` : `seq ${expected} to ${entry.seq - 1} are missing`;
      const before = this.#last === null && this.start === null ? 'the log starts' : `seq ${expected - 1} is followed`;
      this.#fail({ position, seq: expected, at: null, fault: 'removed', why: `${missing}: ${before} by seq ${entry.seq} (${entry.at})` });
      this.#missing = { from: expected, to: entry.seq - 1 };
      return;
    }
    const prev = this.#last === null ? (this.start?.prev ?? GENESIS) : this.#last.hash;
    if (entry.prev !== prev) {
      this.#fail({
        position,
        seq: entry.seq,
        at: entry.at,
        fault: 'relinked',
        why:
          this.#last === null && this.start === null
            ? 'seq 1 does not start the chain (its prev is not the genesis value): the log was replaced'
            : `its prev is not the hash of seq ${expected - 1}: one of the two was rewritten with a recomputed hash, or entries were removed or reordered and renumbered`,
      });
      return;
    }
    if (this.expectLast !== null && entry.hash === this.expectLast) this.#anchorSeen = true;
    this.#first ??= entry;
    this.#last = entry;
  }

  result(): ChainCheck {
    if (this.#bad) return { ok: false, count: this.#count, bad: this.#bad };
    if (this.expectLast !== null && !this.#anchorSeen) {
      const seq = this.#last === null ? 1 : this.#last.seq + 1;
      return {
        ok: false,
        count: this.#count,
        bad: {
          position: this.#count + 1,
          seq,
          at: null,
          fault: 'truncated',
          why: `no entry has the expected hash ${this.expectLast}: entries were removed from the end of the log, or it was replaced`,
        },
      };
    }
    return { ok: true, count: this.#count, first: this.#first, last: this.#last };
  }

  #fail(bad: ChainBreak): void {
    this.#bad = bad;
  }
}

/** Where a part of the log begins: its first seq, and the hash of the entry before it. */
export interface ChainStart {
  readonly seq: number;
  readonly prev: string;
}

/** Checks a whole log (entries as stored, or values parsed from an export), or with `start` a part of it that begins there. */
export function verifyChain(entries: Iterable<unknown>, options: { readonly expectLast?: string | null; readonly start?: ChainStart | null } = {}): ChainCheck {
  const verifier = new ChainVerifier(options.expectLast ?? null, options.start ?? null);
  for (const entry of entries) {
    verifier.push(entry);
    if (verifier.settled) break;
  }
  return verifier.result();
}

/** Checks a read query the same way for every store: a bad one is the caller's mistake (RangeError). */
export function checkAuditQuery(query: { readonly after?: number; readonly limit: number }): { after: number; limit: number } {
  const { after = 0, limit } = query;
  if (!Number.isSafeInteger(after) || after < 0) throw new RangeError('audit: after must be a whole number, 0 or more');
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_READ) throw new RangeError(`audit: limit must be 1..${MAX_AUDIT_READ}`);
  return { after, limit };
}

/** Parses the lines of one read; AuditLogCorruptError naming the first that is not an entry. `after`: how many come before them. */
export function entriesOfLines(lines: readonly string[], after: number): AuditEntry[] {
  return lines.map((line, i) => {
    const entry = asAuditEntry(parseAuditLine(line));
    if (!entry) throw new AuditLogCorruptError(after + i + 1);
    return entry;
  });
}
