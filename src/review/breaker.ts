import type { BreakerGate, OpenBreaker } from '../actions/breaker-gate.js';
import { NO_EVENTS, type GuardEvents } from '../actions/guard-events.js';
import type { BreakerLimits, BreakerRecord, MessageStore } from '../store/message-store.js';
import type { AddressMasker } from '../store/record.js';
import { recordAuditAfter } from './audit.js';
import { ReviewRefusedError, type Reviewer } from './lifecycle.js';

// The breaker (DESIGN.md "Stopping a campaign while it runs"): the gate the
// pipeline asks (actions/breaker-gate.ts) over the store's shared breakers, and
// the one way a person closes a breaker again. Opening is told once, by the
// instance whose violation opened it (the store decides that atomically):
// one warn line and one event for the people on duty.

export interface BreakerLogger {
  warn(obj: object, msg: string): void;
}

export interface BreakerGateDeps {
  readonly store: Pick<MessageStore, 'breakers'>;
  /** policy.breaker */
  readonly limits: BreakerLimits;
  readonly events?: GuardEvents | undefined;
  readonly logger: BreakerLogger;
  /** log.showAddresses: the sender in the log line is masked unless it is on. */
  readonly mask: AddressMasker;
}

export function createBreakerGate(deps: BreakerGateDeps): BreakerGate {
  const { store, limits, logger, mask } = deps;
  const events = deps.events ?? NO_EVENTS;
  return {
    action: limits.action,
    openFor: (sender: string): Promise<OpenBreaker | null> => store.breakers.openFor(sender),
    async recordViolation(sender: string, at: Date): Promise<OpenBreaker | null> {
      const opened = await store.breakers.recordViolation(sender, at, limits);
      if (!opened) return null;
      logger.warn(
        {
          event: 'breaker_opened',
          breaker: opened.id,
          sender: mask(opened.sender),
          violations: opened.violations,
          windowSeconds: opened.windowSeconds,
          action: opened.action,
        },
        'breaker opened: further mail from this sender is paused until an operator resets it',
      );
      events.emit({
        kind: 'breaker',
        at: opened.openedAt,
        state: 'opened',
        breakerId: opened.id,
        sender: opened.sender,
        violations: opened.violations,
        windowSeconds: opened.windowSeconds,
        actor: 'mail-guard',
      });
      return opened;
    },
  };
}

/** Open breakers, oldest first (GET /api/breakers, the console's overview). */
export function listBreakers(store: Pick<MessageStore, 'breakers'>): Promise<readonly BreakerRecord[]> {
  return store.breakers.list();
}

export interface ResetDeps {
  readonly store: Pick<MessageStore, 'breakers' | 'audit'>;
  readonly events?: GuardEvents | undefined;
}

/**
 * Closes a sender's breaker: its next message is judged by its own verdict
 * again, and the window starts empty. Audited (breaker-reset, the breaker id as
 * target, no address) once the store has done it; an unknown id is a not-found
 * refusal and leaves no entry.
 */
export async function resetBreaker(deps: ResetDeps, reviewer: Reviewer, id: string, reason: string | null): Promise<BreakerRecord> {
  const reset = await deps.store.breakers.reset(id);
  if (!reset) throw new ReviewRefusedError({ kind: 'not-found', message: 'no open breaker with this id (GET /api/breakers lists them)' });
  await recordAuditAfter(deps.store, reviewer, 'breaker-reset', id, reason, `breaker ${id} was reset`);
  (deps.events ?? NO_EVENTS).emit({
    kind: 'breaker',
    at: new Date().toISOString(),
    state: 'reset',
    breakerId: reset.id,
    sender: reset.sender,
    violations: reset.violations,
    windowSeconds: reset.windowSeconds,
    actor: reviewer.name,
  });
  return reset;
}
