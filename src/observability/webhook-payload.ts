// What a webhook receives for one GuardEvent (notify.webhooks[].format): json,
// mail-guard's own object, or slack, one readable line as {"text": …} for
// Slack-style incoming webhooks. Fields are listed one by one, never spread
// from the event, so nothing added to an event later reaches a receiver
// unlooked-at. The sender is masked as in the log (unless log.showAddresses);
// the subject and free-text reasons lose anything address-like whatever the
// setting, since a subject or a reviewer's note can quote a member.

import type { GuardEvent } from '../actions/guard-events.js';
import { withoutAddresses } from '../actions/sender-notice-message.js';
import { maskAddressesIn, type AddressMasker } from './mask.js';

export type WebhookFormat = 'json' | 'slack';

const REMOVED = '[address removed]';
const clean = (text: string | null): string | null => (text === null ? null : withoutAddresses(text, REMOVED));

/** The event as the json format sends it. */
export function webhookObject(event: GuardEvent, mask: AddressMasker): Record<string, unknown> {
  const common = { source: 'mail-guard', event: event.kind, at: event.at };
  switch (event.kind) {
    case 'held':
      return {
        ...common,
        id: event.id,
        campaign: event.campaign,
        sender: mask(event.sender),
        subject: clean(event.subject),
        rule: event.rule,
        reason: clean(event.reason),
        exposedExternalCount: event.exposedExternalCount,
        exposingHeaders: [...event.exposingHeaders],
        ...(event.contentExternalCount !== undefined ? { contentExternalCount: event.contentExternalCount } : {}),
        cause: event.cause,
      };
    case 'breaker':
      return {
        ...common,
        state: event.state,
        breakerId: event.breakerId,
        sender: mask(event.sender),
        violations: event.violations,
        windowSeconds: event.windowSeconds,
        actor: maskAddressesIn(event.actor, mask),
      };
    case 'released':
    case 'discarded':
      return {
        ...common,
        id: event.id,
        campaign: event.campaign,
        actor: maskAddressesIn(event.actor, mask),
        as: event.as,
        reason: clean(event.reason),
      };
  }
}

/** Slack's mrkdwn treats these three as markup (https://api.slack.com/reference/surfaces/formatting#escaping). */
const slackEscape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** One English line for people reading a channel. */
export function webhookText(event: GuardEvent, mask: AddressMasker): string {
  const o = webhookObject(event, mask) as Record<string, string | number | string[] | null>;
  switch (event.kind) {
    case 'held': {
      const headers = event.exposingHeaders.join(', ') || 'no header';
      const why =
        event.cause === 'breaker' ? 'its sender is paused' : event.cause === 'withheld' ? 'a rewritten copy would still expose someone' : `rule ${event.rule}`;
      return (
        `mail-guard held message ${event.id} from ${String(o['sender'])}, subject "${String(o['subject'] ?? '(none)')}" (campaign ${event.campaign}): ` +
        `${why}; ${event.exposedExternalCount} external addresses visible in ${headers}` +
        (event.contentExternalCount !== undefined ? `, ${event.contentExternalCount} listed in the content.` : '.')
      );
    }
    case 'breaker':
      return event.state === 'opened'
        ? `mail-guard paused sender ${String(o['sender'])}: breaker ${event.breakerId} opened after ${event.violations} violations within ${event.windowSeconds} s; its further mail waits until an operator resets it.`
        : `mail-guard: ${String(o['actor'])} reset breaker ${event.breakerId} of sender ${String(o['sender'])}; its mail flows again.`;
    case 'released':
      return `mail-guard: ${String(o['actor'])} released message ${event.id} (campaign ${event.campaign}) as ${event.as ?? 'original'}${o['reason'] ? `: ${String(o['reason'])}` : '.'}`;
    case 'discarded':
      return `mail-guard: ${String(o['actor'])} discarded message ${event.id} (campaign ${event.campaign})${o['reason'] ? `: ${String(o['reason'])}` : '.'}`;
  }
}

/** The request body for this webhook's format. */
export function webhookBody(event: GuardEvent, format: WebhookFormat, mask: AddressMasker): string {
  return JSON.stringify(format === 'slack' ? { text: slackEscape(webhookText(event, mask)) } : webhookObject(event, mask));
}
