import type { MessageRecord } from '../store/record.js';
import { answerForError, type ErrorAnswer } from './http-answers.js';

// One bulk action over a campaign's records, for the API (campaign-routes.ts)
// and the console alike: each record goes through exactly its single-message
// action, one after the other, and the run stops at the first upstream or store
// failure (or anything unexpected): the rest would most likely fail the same
// way, and a person should look before 800 more attempts. The records after it
// are reported as not attempted and stay as they were.

export type CampaignStep<T> =
  | { readonly record: MessageRecord; readonly done: T }
  | { readonly record: MessageRecord; readonly failed: ErrorAnswer }
  | { readonly record: MessageRecord; readonly notAttempted: ErrorAnswer };

export async function runOverCampaign<T>(
  records: readonly MessageRecord[],
  apply: (record: MessageRecord) => Promise<T>,
  onUnexpected: (record: MessageRecord, err: unknown) => void,
): Promise<CampaignStep<T>[]> {
  const steps: CampaignStep<T>[] = [];
  let stoppedBy: ErrorAnswer | null = null;
  for (const record of records) {
    if (stoppedBy) {
      steps.push({ record, notAttempted: stoppedBy });
      continue;
    }
    try {
      steps.push({ record, done: await apply(record) });
    } catch (err) {
      const answer = answerForError(err);
      if (answer.unexpected) onUnexpected(record, err);
      steps.push({ record, failed: answer });
      if (answer.status === 502 || answer.status === 503 || answer.unexpected) stoppedBy = answer;
    }
  }
  return steps;
}
