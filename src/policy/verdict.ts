import type { PolicyAction } from '../config/schema.js';
import type { SmtpReply } from '../reply/replies.js';

/** One recipient's DSN parameters (RFC 3461), as the mailer gave them. */
export interface RecipientParams {
  /** NEVER, or any of SUCCESS, FAILURE, DELAY; absent: the receiving MTA's default (failures). */
  readonly notify?: readonly string[] | undefined;
  /** `addr-type;address`, xtext-decoded (encoded again on the way out). */
  readonly orcpt?: string | undefined;
}

/** The ESMTP parameters of a transaction that must travel with the message (DESIGN.md "Envelope fidelity"). */
export interface EsmtpParams {
  /** BODY=8BITMIME was declared. */
  readonly eightBitMime: boolean;
  /** SMTPUTF8 was declared. */
  readonly smtputf8: boolean;
  /** RFC 8689: the message may leave only over verified TLS to a relay that offers REQUIRETLS. */
  readonly requireTLS: boolean;
  readonly ret?: 'FULL' | 'HDRS' | undefined;
  /** ENVID, xtext-decoded. */
  readonly envid?: string | undefined;
  /** By recipient address as given in RCPT TO. */
  readonly recipients: ReadonlyMap<string, RecipientParams>;
}

/** Who sent the message and how: what rules select on. */
export interface TransactionContext {
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  readonly clientAddress: string;
  readonly authUser?: string | undefined;
  /** Absent for messages that did not come over SMTP (`mail-guard check`, stored records). */
  readonly esmtp?: EsmtpParams | undefined;
}

/** Where content addresses were found, as the sender may be told: kinds of place, never a filename or an address. */
export type ContentPlaceKind = 'attachment' | 'forwarded' | 'body';

/** What the content check added to a verdict (DESIGN.md "Content beyond the headers"). */
export interface ContentFinding {
  /** Distinct external addresses in the content (a lower bound when `bound`). */
  readonly externalCount: number;
  readonly places: readonly ContentPlaceKind[];
  /** The count broke the rule's content threshold. */
  readonly violation: boolean;
  /** A bound stopped the scan (the message is held for that alone). */
  readonly bound: boolean;
  /** The header check broke its own threshold as well. */
  readonly headerViolation: boolean;
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
  /**
   * Set (> 0) when mail that would leave (pass, monitor, bcc, split) waits this
   * many seconds in the store first: the rule's delaySeconds, else the policy's.
   */
  readonly delaySeconds?: number;
  /** Set when the content check decided (a violation or a bound): what the sender notice and the webhook say about it. */
  readonly content?: ContentFinding;
}
