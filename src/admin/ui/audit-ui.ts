import type { AdminLogger } from '../route-context.js';
import type { Reviewer } from '../../review/lifecycle.js';

/** What the console audits itself; approve, release, discard and view-raw are recorded by review/. */
export type UiAuditAction = 'sign-in' | 'sign-out' | 'reveal';

/**
 * The console's audit points, in one place. Today they only log (the line
 * carries who, what and which record, never an address or a token).
 */
export async function auditUi(logger: AdminLogger, reviewer: Reviewer, action: UiAuditAction, target: string | null, note: string | null): Promise<void> {
  // issue 11: recordAudit once the audit log lands
  logger.info({ event: 'audit', actor: reviewer.name, role: reviewer.role, action, target, note }, `console ${action}`);
}
