import { MAX_AUDIT_NOTE_CHARS, MAX_AUDIT_TARGET_CHARS, type AuditAction, type AuditEntry } from '../store/audit-chain.js';
import { StoreUnavailableError, type MessageStore } from '../store/message-store.js';
import type { Reviewer } from './lifecycle.js';

// What people do, in the store's hash-chained audit log (DESIGN.md "Audit
// log"; the chain itself: store/audit-chain.ts). One rule for every caller:
//
// - An action is audited once the store has accepted it, so an action the
//   store refused (409, 404) or the lifecycle refused (403) leaves no entry;
//   the record's history says the same for what it covers.
// - Something handed out to a person (the raw .eml, revealed addresses) is
//   audited *before* it is handed out, and not handed out when the entry
//   cannot be written (recordAudit throws; the API answers 503).
// - An action that took effect but whose entry could not be written is never
//   answered as a plain success: AuditUnwrittenError (503) says what was done.
//
// Who calls recordAudit: review-actions.ts for approve, release (a failed
// release too, its outcome in the note), discard and view-raw; the reviewer
// UI for sign-in, sign-out and reveal; a breaker reset for breaker-reset.

export type { AuditAction, AuditEntry } from '../store/audit-chain.js';
export { AUDIT_ACTIONS } from '../store/audit-chain.js';

/**
 * Appends one entry — `reviewer.name` did `action` to `target` (a record id,
 * a campaign key…; null for none), with `note` (a reason, an outcome) — and
 * resolves once it is durable. A note or target longer than the store takes
 * (audit-chain.ts MAX_AUDIT_*) is cut, with "…" at the end.
 * StoreUnavailableError when it cannot be written: the caller must not then
 * hand anything out.
 */
export async function recordAudit(
  store: Pick<MessageStore, 'audit'>,
  reviewer: Reviewer,
  action: AuditAction,
  target: string | null,
  note: string | null,
): Promise<AuditEntry> {
  return store.audit.append({ actor: reviewer.name, action, target: cut(target, MAX_AUDIT_TARGET_CHARS), note: cut(note, MAX_AUDIT_NOTE_CHARS) });
}

/**
 * The action took effect (the record says so) but its audit entry could not be
 * written. A StoreUnavailableError, so a caller that does not know it still
 * fails closed (503); the admin API gives its message, which says what was done.
 */
export class AuditUnwrittenError extends StoreUnavailableError {}

/** recordAudit after an action that already took effect: a failure becomes AuditUnwrittenError saying what was done. */
export async function recordAuditAfter(
  store: Pick<MessageStore, 'audit'>,
  reviewer: Reviewer,
  action: AuditAction,
  target: string | null,
  note: string | null,
  done: string,
): Promise<AuditEntry> {
  try {
    return await recordAudit(store, reviewer, action, target, note);
  } catch (err) {
    if (err instanceof RangeError) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new AuditUnwrittenError(`${done}, but the audit log could not record it (${why}); check the store, then the record's history`, {
      cause: err,
    });
  }
}

function cut(text: string | null, max: number): string | null {
  if (text === null || text.length <= max) return text;
  // Not between the two halves of a surrogate pair.
  const end = /[\ud800-\udbff]/.test(text.charAt(max - 2)) ? max - 2 : max - 1;
  return text.slice(0, end) + '…';
}
