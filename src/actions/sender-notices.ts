import type { ContentFinding, TransactionContext } from '../policy/verdict.js';

// DESIGN.md "Stopping a campaign while it runs": the envelope sender of held or
// rejected mail hears about it, once per campaign and hour (832 held messages:
// one notice). The pipeline hands each such outcome over and goes on; the
// implementation decides whether a notice is due and sends it off the SMTP path.

export interface NoticeCause {
  readonly id: string;
  readonly receivedAt: number;
  readonly context: TransactionContext;
  readonly campaign: string;
  readonly subject: string | null;
  /** held: kept for review; rejected: refused with 550; paused: the sender's breaker is open (held or 451). */
  readonly what: 'held' | 'rejected' | 'paused';
  readonly exposedExternalCount: number;
  readonly exposingHeaders: readonly string[];
  /** Set when the content check decided: addresses listed in an attachment, a forward or the text (no header rewrite fixes that). */
  readonly content?: ContentFinding | undefined;
  /** The message's header block, for Auto-Submitted (RFC 3834: no notice about an automatic message). */
  readonly head: Buffer;
}

/** Returns at once and never throws: a notice is best effort and must not change the mailer's answer. */
export interface SenderNotices {
  consider(cause: NoticeCause): void;
}
