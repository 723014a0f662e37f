import type { MessageRecord } from '../../store/record.js';
import { answerForError } from '../http-answers.js';
import type { AdminLogger } from '../route-context.js';

// A bulk action over a campaign's records, with the API's rule (campaign-routes.ts):
// each record goes through its single-message action, and the run stops at the
// first upstream or store failure so a person looks before 800 more attempts.

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
  let succeeded = 0;
  let firstError: BulkOutcome['firstError'] = null;
  for (const record of records) {
    try {
      await apply(record);
      succeeded++;
    } catch (err) {
      const answer = answerForError(err);
      if (answer.unexpected) logger.error({ id: record.id, err }, `console campaign ${action} failed on a record`);
      firstError ??= { status: answer.status, message: answer.body.error };
      if (answer.status === 502 || answer.status === 503 || answer.unexpected) break;
    }
  }
  return { count: records.length, succeeded, failed: records.length - succeeded, firstError };
}
