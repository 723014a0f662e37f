// What the people on duty hear about (notify.webhooks): a campaign being held,
// a sender's breaker opening or being reset, a person releasing or discarding
// mail. Events are facts about mail-guard's decisions: counts, header names,
// rule, ids and the campaign key — never a recipient's address. The sender
// (the organisation's own mailbox) travels here; the dispatcher masks it as the
// log does unless log.showAddresses.

export type GuardEvent =
  | {
      readonly kind: 'held';
      readonly at: string;
      /** The record id; the same id is in the SMTP reply, the log line and the console. */
      readonly id: string;
      readonly campaign: string;
      readonly sender: string;
      readonly subject: string | null;
      readonly rule: string;
      readonly reason: string;
      readonly exposedExternalCount: number;
      readonly exposingHeaders: readonly string[];
      /** Distinct external addresses listed in the content, when the content check decided (absent otherwise). */
      readonly contentExternalCount?: number;
      /** policy: a rule held it; breaker: its sender is paused; withheld: a bcc/split copy would still have exposed someone. */
      readonly cause: 'policy' | 'breaker' | 'withheld';
    }
  | {
      readonly kind: 'breaker';
      readonly at: string;
      readonly state: 'opened' | 'reset';
      /** The breaker's id (GET /api/breakers), not the address. */
      readonly breakerId: string;
      readonly sender: string;
      readonly violations: number;
      readonly windowSeconds: number;
      /** Who reset it; "mail-guard" when it opened. */
      readonly actor: string;
    }
  | {
      readonly kind: 'released' | 'discarded';
      readonly at: string;
      readonly id: string;
      readonly campaign: string;
      readonly actor: string;
      /** released: original, bcc or split; discarded: null. */
      readonly as: string | null;
      readonly reason: string | null;
    };

/** Takes an event and returns at once: delivery is the dispatcher's (bounded, retried, never on the SMTP path). */
export interface GuardEvents {
  emit(event: GuardEvent): void;
}

export const NO_EVENTS: GuardEvents = { emit() {} };
