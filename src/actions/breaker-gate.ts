// DESIGN.md "Stopping a campaign while it runs": one envelope sender with
// policy.breaker.violations violations inside windowSeconds is paused as a
// whole. The pipeline asks this gate; review/breaker.ts implements it over the
// store (shared by every instance on one Redis) and tells the people on duty.

export interface OpenBreaker {
  /** Opaque id of the sender's breaker (GET /api/breakers, POST /api/breakers/:id/reset); no address in it. */
  readonly id: string;
  readonly openedAt: string;
  /** Violations inside the window when it opened. */
  readonly violations: number;
  readonly windowSeconds: number;
}

export interface BreakerGate {
  /** What the sender's further mail gets while its breaker is open. */
  readonly action: 'quarantine' | 'tempfail';
  /** The sender's open breaker, or null. Rejects with StoreUnavailableError when the store cannot say (the caller answers 451). */
  openFor(sender: string): Promise<OpenBreaker | null>;
  /** Counts one violation of this sender at `at`; resolves the breaker when this violation opened it, else null. */
  recordViolation(sender: string, at: Date): Promise<OpenBreaker | null>;
}
