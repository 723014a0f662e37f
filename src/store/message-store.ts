import type { AuditEntry, AuditEntryInput } from './audit-chain.js';
import type { HistoryEntry, MessageRecord, RecordStatus } from './record.js';

/** The store could not answer (disk, Redis down, timeout): the caller fails closed (451 / 503). */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/** The record is not in a state that allows this transition (already released, discarded…): HTTP 409. */
export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError';
  constructor(
    message: string,
    readonly current: RecordStatus | 'releasing' | null,
  ) {
    super(message);
  }
}

export interface ListQuery {
  readonly status?: RecordStatus | undefined;
  /** The verdict's action (pass, monitor, bcc, split, quarantine, reject); a record without a verdict never matches. */
  readonly action?: string | undefined;
  /** The verdict's rule name, exactly. */
  readonly rule?: string | undefined;
  /** The verdict's violation flag. */
  readonly violation?: boolean | undefined;
  /** The envelope sender, whole address, compared case-insensitively. */
  readonly sender?: string | undefined;
  /** Free text: a substring of the Subject, the From address or the envelope sender, case-insensitive, both sides NFKC (store-common.ts searchForm). */
  readonly text?: string | undefined;
  /** 1..500 */
  readonly limit: number;
  /** Opaque: the nextCursor of the previous page. */
  readonly cursor?: string | undefined;
  /**
   * The most records this page reads and tests (default MAX_LIST_SCAN, at most
   * MAX_LIST_SCAN_LIMIT). A page that reaches it before `limit` matches ends
   * there with a nextCursor after the last record looked at, so a sparse filter
   * over a large store answers in bounded time and the caller pages on.
   */
  readonly maxScan?: number | undefined;
}

export interface ListPage {
  /** Newest first. */
  readonly records: readonly MessageRecord[];
  /** null: nothing older matches. Fewer than `limit` records with a cursor: the scan bound ended this page, continue from here. */
  readonly nextCursor: string | null;
  /** Records read and tested for this page (a status alone is answered from the index and does not count the others). */
  readonly scanned: number;
}

/** Who holds a release claim and until when (JSON in the store). */
export interface ReleaseClaim {
  readonly at: string;
  readonly host: string;
  readonly pid: number;
  /** null: taken by a version before leases; counts as expired. */
  readonly leaseUntil: string | null;
}

export interface ExpiredClaim {
  readonly record: MessageRecord;
  readonly claim: ReleaseClaim;
}

export interface Transition {
  /** The transition happens only from one of these statuses. */
  readonly from: readonly RecordStatus[];
  readonly to: RecordStatus;
  readonly entry: HistoryEntry;
}

/**
 * Which copies of a message the upstream already accepted when the mailer was
 * told 451, keyed on a digest of the message bytes (and envelope sender) and
 * the recipient, so the mailer's retry sends only the rest: also when the retry
 * reaches another instance on the same Redis. Entries expire after
 * `store.ledgerHours`. Written only on that partial path, never per clean message.
 */
export interface DeliveryLedger {
  /**
   * False only when this store knows there is no entry anywhere (the file store,
   * empty): the hot path then skips hashing the message. A shared store says true.
   */
  readonly mayHoldEntries: boolean;
  /** Recipients (lower case) already accepted for this digest; empty when none. */
  acceptedRecipients(digest: string): Promise<ReadonlySet<string>>;
  /** Durable when it resolves: the 451 goes out only after this. */
  recordAccepted(digest: string, recipients: readonly string[]): Promise<void>;
  /** The retry completed: the entry is no longer needed. */
  forget(digest: string): Promise<void>;
}

/**
 * The audit log (DESIGN.md "Audit log"; the chain: audit-chain.ts). Appends
 * are atomic and totally ordered across every process sharing the store: seq
 * 1, 2, 3 … each chained to the one before. Nothing in mail-guard edits or
 * removes an entry; retention does not touch the log.
 */
export interface AuditLog {
  /** Adds the next entry (seq, at, prev, hash filled in); durable when it resolves. RangeError for bad input. */
  append(entry: AuditEntryInput): Promise<AuditEntry>;
  /**
   * Oldest first: the entries after the first `after` (default 0), at most
   * `limit` (1..MAX_AUDIT_READ). In an intact log the nth entry has seq n, so
   * `after` is the seq of the last entry already read. AuditLogCorruptError
   * when a stored entry is not a well-formed one (`audit verify` says more).
   */
  read(query: { readonly after?: number; readonly limit: number }): Promise<readonly AuditEntry[]>;
}

/** What opens a breaker (policy.breaker), handed to every recordViolation call. */
export interface BreakerLimits {
  readonly violations: number;
  readonly windowSeconds: number;
  readonly action: 'quarantine' | 'tempfail';
}

/** One open breaker: its sender is paused until a person resets it (DESIGN.md "Stopping a campaign while it runs"). */
export interface BreakerRecord {
  /** breakerId(sender): a hash, so URLs and logs carry no address. */
  readonly id: string;
  /** The envelope sender, lower case. */
  readonly sender: string;
  readonly openedAt: string;
  /** Violations inside the window when it opened. */
  readonly violations: number;
  readonly windowSeconds: number;
  /** The action configured when it opened. */
  readonly action: 'quarantine' | 'tempfail';
}

/**
 * Per-sender breakers, shared by every process on the store. Senders compare
 * case-insensitively. Failures are StoreUnavailableError (the pipeline then
 * answers 451: whether a sender is paused is unknown).
 */
export interface BreakerStore {
  /**
   * Counts one violation of `sender` at `at` in a sliding window of
   * limits.windowSeconds and, atomically, opens the breaker when the count
   * inside the window reaches limits.violations. Resolves the breaker only when
   * this call opened it; null when it was already open or stays closed.
   */
  recordViolation(sender: string, at: Date, limits: BreakerLimits): Promise<BreakerRecord | null>;
  /** The sender's open breaker, or null: the hot path, one cheap read. */
  openFor(sender: string): Promise<BreakerRecord | null>;
  /** Every open breaker, oldest first. */
  list(): Promise<readonly BreakerRecord[]>;
  /** Closes it and forgets the window's violations (one new violation does not reopen it); null for an unknown id. */
  reset(id: string): Promise<BreakerRecord | null>;
}

/**
 * "At most once per key and period", shared by every instance on the store:
 * one sender notice per campaign and hour, one page per campaign and hour per
 * webhook. A mark only ever expires; nothing takes one back early.
 */
export interface NoticeMarks {
  /**
   * True for exactly one caller per key within `ttlSeconds` (fractions allowed),
   * across every process sharing the store; false for the rest until the mark
   * expires. Keys: letters, digits and : _ . - (RangeError otherwise).
   * StoreUnavailableError when the store cannot say.
   */
  firstWithin(key: string, ttlSeconds: number): Promise<boolean>;
}

/**
 * One interface, two implementations (file, redis), one shared test suite.
 * Every write resolves only once it is durable; every failure to reach the
 * backend is a StoreUnavailableError, never a hang.
 */
export interface MessageStore {
  /** Writes a new record with its raw message. Durable when it resolves. */
  put(record: MessageRecord, raw: readonly Buffer[]): Promise<void>;
  get(id: string): Promise<MessageRecord | null>;
  raw(id: string): Promise<Buffer | null>;
  list(query: ListQuery): Promise<ListPage>;
  /** Atomic status change with a history entry; StoreConflictError when the status is not in `from`. */
  transition(id: string, transition: Transition): Promise<MessageRecord>;
  /** Appends to the history without changing the status (views of the raw message, notes). */
  appendHistory(id: string, entry: HistoryEntry): Promise<void>;
  /**
   * Claims the right to release: atomic across processes sharing the store, at
   * most one claim per record ever succeeds until it is given back. The claim
   * holds a lease until `leaseUntil`: the holder renews it while it works, and
   * a claim whose lease ran out is a release that died half-way (expiredClaims).
   * Resolves the record as it was; StoreConflictError if released, discarded, or claimed.
   */
  claimRelease(id: string, from: readonly RecordStatus[], leaseUntil: Date): Promise<MessageRecord>;
  /** Extends the lease of this process's claim; StoreConflictError when it holds none on the record. */
  renewRelease(id: string, leaseUntil: Date): Promise<void>;
  /**
   * Delayed records whose releaseAt is at or before `now` and that nobody
   * claimed, oldest releaseAt first, at most `limit` (1..MAX_DUE_LIMIT, release-claim.ts).
   */
  dueForRelease(now: Date, limit: number): Promise<MessageRecord[]>;
  /**
   * Claimed records that are not released and whose lease ended before `now`,
   * at most `limit` (1..MAX_DUE_LIMIT), oldest lease first. A claim without a
   * lease (taken by a version before leases) counts as expired.
   */
  expiredClaims(now: Date, limit: number): Promise<ExpiredClaim[]>;
  /**
   * Gives back a claim whose lease expired (a person decided the holder is
   * gone): the record keeps its status, `entry` goes into its history, and it
   * can be claimed again. StoreConflictError when there is no claim ('current'
   * is the status) or its lease has not expired ('releasing').
   */
  retryExpiredClaim(id: string, entry: HistoryEntry, now: Date): Promise<MessageRecord>;
  /** Gives a claim back after a release that did not reach the upstream. */
  abandonRelease(id: string, entry: HistoryEntry): Promise<void>;
  /** Finishes a claimed release: status released, history entry with the upstream reply. */
  completeRelease(id: string, entry: HistoryEntry): Promise<MessageRecord>;
  /**
   * Removes records received before `olderThan`, except those whose status is in
   * `keep` (review/lifecycle.ts UNDECIDED) or whose release is in flight. Returns how many.
   */
  purge(olderThan: Date, keep: ReadonlySet<RecordStatus>): Promise<number>;
  /** When the oldest record with this status was received (for "held mail too old"); null when there is none. */
  oldestReceivedAt(status: RecordStatus): Promise<Date | null>;
  /** The oldest record that has this status (the overview's "oldest held"); null when there is none. */
  oldest(status: RecordStatus): Promise<MessageRecord | null>;
  /** Counts by status, for the quarantine gauge. */
  countByStatus(): Promise<Record<RecordStatus, number>>;
  /** The delivery ledger of this store (DeliveryLedger). */
  readonly ledger: DeliveryLedger;
  /** The hash-chained audit log of this store (AuditLog). */
  readonly audit: AuditLog;
  /** Per-sender breakers of this store (BreakerStore). */
  readonly breakers: BreakerStore;
  /** The once-per-period marks of this store (NoticeMarks). */
  readonly marks: NoticeMarks;
  /** Cheap liveness check for /readyz and start-up. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
