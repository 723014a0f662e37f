import { createHash } from 'node:crypto';

/**
 * A campaign is what one bulk send leaves behind: the messages that share an
 * envelope sender and a subject. Its key is stable for the same sender and
 * subject (sha256 of both, 24 hex characters), so the review API, the sender
 * notices (one per campaign and hour) and the webhooks all name it alike.
 */
export function campaignKey(record: { readonly envelope: { readonly mailFrom: string }; readonly subject: string | null }): string {
  // JSON keeps a null subject apart from an empty one; the sender is compared case-insensitively, like mailboxes mostly are.
  const identity = JSON.stringify([record.envelope.mailFrom.toLowerCase(), record.subject]);
  return createHash('sha256').update(identity).digest('hex').slice(0, 24);
}
