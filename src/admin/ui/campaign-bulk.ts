import type { MessageRecord } from '../../store/record.js';
import { runOverCampaign } from '../campaign-run.js';
import type { AdminLogger } from '../route-context.js';

// A bulk action from the console: the API's run (campaign-run.ts), summed up for the page.

export interface BulkOutcome {
  readonly count: number;
  readonly succeeded: number;
  readonly failed: number;
  /** The first failure's status and message, for the page. */
  readonly firstError: { readonly status: number; readonly message: string } | null;
}

export async function applyToRecords(
  records: readonly MessageRecord[],
  apply: (record: MessageRecord) => Promise<unknown>,
  logger: AdminLogger,
  action: string,
): Promise<BulkOutcome> {
  const steps = await runOverCampaign(records, apply, (record, err) => logger.error({ id: record.id, err }, `console campaign ${action} failed on a record`));
  const succeeded = steps.filter((step) => 'done' in step).length;
  const first = steps.find((step) => 'failed' in step);
  const firstError = first && 'failed' in first ? { status: first.failed.status, message: first.failed.body.error } : null;
  return { count: records.length, succeeded, failed: records.length - succeeded, firstError };
}
