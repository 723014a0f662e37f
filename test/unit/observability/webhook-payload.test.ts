import { describe, expect, it } from 'vitest';
import type { GuardEvent } from '../../../src/actions/guard-events.js';
import { makeAddressMasker } from '../../../src/observability/mask.js';
import { webhookBody } from '../../../src/observability/webhook-payload.js';

const held: GuardEvent = {
  kind: 'held',
  at: '2026-11-02T01:23:45.000Z',
  id: '01JD3Y5Z7Q8W9E0R1T2Y3U4I5O',
  campaign: 'a1b2c3d4e5f6a1b2c3d4e5f6',
  sender: 'news@example.co.jp',
  subject: 'Fwd: <b>list</b> member1@gmail.com',
  rule: 'default',
  reason: 'more than 1 visible external addresses: 831 exposed in To',
  exposedExternalCount: 831,
  exposingHeaders: ['To'],
  cause: 'policy',
};
const masked = makeAddressMasker(false);

describe('webhook payloads', () => {
  it('json: the listed fields, the sender masked as in the log, no address in subject or reason', () => {
    expect(JSON.parse(webhookBody(held, 'json', masked))).toEqual({
      source: 'mail-guard',
      event: 'held',
      at: '2026-11-02T01:23:45.000Z',
      id: '01JD3Y5Z7Q8W9E0R1T2Y3U4I5O',
      campaign: 'a1b2c3d4e5f6a1b2c3d4e5f6',
      sender: 'n***@e***.jp',
      subject: 'Fwd: <b>list</b> [address removed]',
      rule: 'default',
      reason: 'more than 1 visible external addresses: 831 exposed in To',
      exposedExternalCount: 831,
      exposingHeaders: ['To'],
      cause: 'policy',
    });
    // log.showAddresses: the sender in full, still no member from the subject.
    const shown = JSON.parse(webhookBody(held, 'json', makeAddressMasker(true))) as Record<string, unknown>;
    expect(shown['sender']).toBe('news@example.co.jp');
    expect(shown['subject']).toBe('Fwd: <b>list</b> [address removed]');
  });

  it('json: a discard carries the reviewer and their reason, with any address in it removed', () => {
    const discarded: GuardEvent = {
      kind: 'discarded',
      at: held.at,
      id: held.id,
      campaign: held.campaign,
      actor: 'ops-alice',
      as: null,
      reason: 'wrong list, see bob@x.example',
    };
    expect(JSON.parse(webhookBody(discarded, 'json', masked))).toEqual({
      source: 'mail-guard',
      event: 'discarded',
      at: held.at,
      id: held.id,
      campaign: held.campaign,
      actor: 'ops-alice',
      as: null,
      reason: 'wrong list, see [address removed]',
    });
  });

  it('a content hold carries the count listed in the content (json and slack), never an address', () => {
    const content: GuardEvent = {
      ...held,
      exposedExternalCount: 0,
      exposingHeaders: [],
      contentExternalCount: 832,
      reason: 'the attachment members.csv lists 832 external addresses',
    };
    const json = JSON.parse(webhookBody(content, 'json', masked)) as Record<string, unknown>;
    expect(json['contentExternalCount']).toBe(832);
    expect(JSON.parse(webhookBody(held, 'json', masked))).not.toHaveProperty('contentExternalCount');
    const slack = JSON.parse(webhookBody(content, 'slack', masked)) as { text: string };
    expect(slack.text).toMatch(/0 external addresses visible in no header, 832 listed in the content\.$/);
  });

  it('slack: one {"text"} line, markup escaped', () => {
    const body = JSON.parse(webhookBody(held, 'slack', masked)) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['text']);
    expect(body['text']).toBe(
      'mail-guard held message 01JD3Y5Z7Q8W9E0R1T2Y3U4I5O from n***@e***.jp, subject "Fwd: &lt;b&gt;list&lt;/b&gt; [address removed]" ' +
        '(campaign a1b2c3d4e5f6a1b2c3d4e5f6): rule default; 831 external addresses visible in To.',
    );
    const opened: GuardEvent = {
      kind: 'breaker',
      at: held.at,
      state: 'opened',
      breakerId: 'b-1',
      sender: 'news@example.co.jp',
      violations: 3,
      windowSeconds: 600,
      actor: 'mail-guard',
    };
    expect(JSON.parse(webhookBody(opened, 'slack', masked))).toEqual({
      text: 'mail-guard paused sender n***@e***.jp: breaker b-1 opened after 3 violations within 600 s; its further mail waits until an operator resets it.',
    });
    const released: GuardEvent = { kind: 'released', at: held.at, id: held.id, campaign: held.campaign, actor: 'ops-bob', as: 'split', reason: null };
    expect((JSON.parse(webhookBody(released, 'slack', masked)) as { text: string }).text).toBe(
      'mail-guard: ops-bob released message 01JD3Y5Z7Q8W9E0R1T2Y3U4I5O (campaign a1b2c3d4e5f6a1b2c3d4e5f6) as split.',
    );
  });
});
