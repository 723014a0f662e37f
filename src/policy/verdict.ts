import type { PolicyAction } from '../config/schema.js';
import type { SmtpReply } from '../smtp/replies.js';

/** Who sent the message and how: what rules select on. */
export interface TransactionContext {
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  readonly clientAddress: string;
  readonly authUser?: string | undefined;
}

export interface Verdict {
  /** What to do with the message. */
  readonly action: PolicyAction;
  /** The rule that decided ("default" when none matched). */
  readonly rule: string;
  /** True when the message broke a threshold (also in monitor mode, where it is relayed anyway). */
  readonly violation: boolean;
  /** For logs and the store; never sent to the mailer. */
  readonly reason: string;
  /** The reply a reject gives (policy text, no internals). */
  readonly rejectReply?: SmtpReply;
}
