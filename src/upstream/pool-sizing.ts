// How many sessions the upstream pool may hold: `upstream.pool`.
//
// - A number is a fixed cap, as before: sessions are opened on demand up to it.
// - `auto` (the default) opens a session whenever a transaction would otherwise
//   wait, up to AUTO_POOL_CAP, so the pool follows the mailers' concurrency
//   instead of a guess in the config (a cap of 8 under 20 busy client sessions
//   made every transaction queue). It shrinks by itself: a released session goes
//   to the top of the idle stack, so the ones beyond what the load needs sit at
//   the bottom unused and are QUIT after the idle timeout.
// - An upstream that refuses one more connection while others are open has a
//   per-client limit (Postfix: smtpd_client_connection_count_limit, 50 by
//   default). In auto mode the cap drops to the sessions open at that moment for
//   LEARNED_CAP_MS, and the transaction waits for one of them instead of failing.

/** Sessions `auto` opens at most: below Postfix's default per-client limit of 50, and enough for mailers with dozens of sessions. */
export const AUTO_POOL_CAP = 32;
/** How long a cap learned from a refused connection holds before auto tries to grow again. */
export const LEARNED_CAP_MS = 60_000;
/** Copies of one split message sent at once under `auto`: one message must not take every session. */
export const AUTO_SPLIT_CONCURRENCY = 8;

export type PoolSetting = number | 'auto';

export class PoolSizing {
  readonly auto: boolean;
  private readonly configured: number;
  private learned: { readonly cap: number; readonly until: number } | null = null;

  constructor(setting: PoolSetting) {
    this.auto = setting === 'auto';
    this.configured = setting === 'auto' ? AUTO_POOL_CAP : setting;
  }

  /** Sessions (opening, idle or busy) allowed now. */
  cap(now: number = Date.now()): number {
    if (this.learned && now >= this.learned.until) this.learned = null;
    return this.learned ? this.learned.cap : this.configured;
  }

  /**
   * A new session could not be opened while `open` others are. Auto mode takes
   * that as the upstream's limit and returns true: the caller waits for a session
   * instead of failing. A fixed cap returns false (the caller fails, as it always has).
   */
  refusedWith(open: number, now: number = Date.now()): boolean {
    if (!this.auto || open === 0) return false;
    this.learned = { cap: open, until: now + LEARNED_CAP_MS };
    return true;
  }
}

/** Copies of one split message in flight at once for this setting. */
export function splitConcurrencyFor(setting: PoolSetting): number {
  return setting === 'auto' ? AUTO_SPLIT_CONCURRENCY : setting;
}
