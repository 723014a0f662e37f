import { recordAudit } from '../../review/audit.js';
import type { Reviewer } from '../../review/lifecycle.js';
import type { MessageStore } from '../../store/message-store.js';
import type { AdminLogger } from '../route-context.js';

/** What the console audits itself; approve, release, discard and view-raw are recorded by review/. */
export type UiAuditAction = 'sign-in' | 'sign-out' | 'reveal';

/**
 * The console's audit points, in one place: the entry goes into the store's
 * hash-chained audit log before what it covers is handed out (a session, the
 * full addresses). When it cannot be written this throws (a 503 page) and
 * nothing is handed out. The log line carries who, what and which record,
 * never an address or a token.
 */
export async function auditUi(
  deps: { readonly logger: AdminLogger; readonly store: Pick<MessageStore, 'audit'> },
  reviewer: Reviewer,
  action: UiAuditAction,
  target: string | null,
  note: string | null,
): Promise<void> {
  const entry = await recordAudit(deps.store, reviewer, action, target, note);
  deps.logger.info({ event: 'audit', seq: entry.seq, actor: reviewer.name, role: reviewer.role, action, target }, `console ${action}`);
}
