// decide() with the content scan's facts built by hand: the thresholds, the
// reasons a reviewer reads, the precedence against the header verdict, bounds.
import { describe, expect, it } from 'vitest';
import type { ContentLocation, ContentReport } from '../../../src/analysis/content/content-report.js';
import type { ExposureReport } from '../../../src/analysis/exposure-report.js';
import { parseConfigObject } from '../../../src/config/load.js';
import type { PolicyAction } from '../../../src/config/schema.js';
import { createDecide, type Judged } from '../../../src/policy/decide.js';
import { contentSkipAtOrBelow, createJudge } from '../../../src/policy/judge.js';
import { formatReply } from '../../../src/reply/replies.js';

const context = { mailFrom: 'app@example.co.jp', rcptTo: ['a@ext1.com', 'b@ext2.com'], clientAddress: '127.0.0.1' };
const facts = { context, headerFromDomain: null };

function judged(exposed: string[], content: ContentReport | null): Judged {
  const exposure: ExposureReport = {
    visible: [],
    visibleExternalCount: exposed.length,
    exposedExternal: exposed,
    exposedExternalDomainCount: new Set(exposed.map((a) => a.split('@')[1])).size,
    exposingHeaders: exposed.length ? ['To'] : [],
    truncated: false,
    addressesSeen: exposed.length,
  };
  return { findings: [], exposure, content };
}

const addresses = (n: number, domain = 'ext.example') => Array.from({ length: n }, (_, i) => `m${i}@${domain}`);

function place(part: string, carrier: ContentLocation['carrier'], count: number, filename: string | null = null, contentType = 'text/plain'): ContentLocation {
  return { part, carrier, contentType, filename, externalCount: count, addresses: addresses(Math.min(count, 20)) };
}

function scanned(locations: ContentLocation[], extra: Partial<Extract<ContentReport, { scanned: true }>> = {}): ContentReport {
  const externalCount = locations.reduce((n, l) => n + l.externalCount, 0);
  return { scanned: true, externalCount, locations, uninspected: [], bound: null, ...extra };
}

const csv = (count: number) => scanned([place('2', 'text-attachment', count, 'members.csv', 'text/csv')]);
const decideWith = (policy: object) => createDecide(parseConfigObject({ internalDomains: ['example.co.jp'], policy }).policy);

describe('content verdict: thresholds and reasons', () => {
  it('passes at the threshold and violates one above it, with the place in the reason', () => {
    const decide = decideWith({ content: { maxAddresses: 20 } });
    expect(decide(judged([], csv(20)), facts)).toMatchObject({ action: 'pass', violation: false });
    const v = decide(judged([], csv(832)), facts);
    expect(v).toMatchObject({ action: 'quarantine', violation: true, rule: 'default' });
    expect(v.reason).toBe('the attachment members.csv lists 832 external addresses > content.maxAddresses 20');
  });

  it('names a forwarded message by its part, the body as the body', () => {
    const decide = decideWith({ content: { maxAddresses: 5 } });
    expect(decide(judged([], scanned([place('2', 'forwarded-headers', 50, null, 'message/rfc822')])), facts).reason).toBe(
      'the forwarded message (part 2) lists 50 external addresses > content.maxAddresses 5',
    );
    expect(decide(judged([], scanned([place('1', 'body-html', 31, null, 'text/html')])), facts).reason).toBe(
      'the body lists 31 external addresses > content.maxAddresses 5',
    );
  });

  it('names the biggest place first and counts the others', () => {
    const decide = decideWith({ content: { maxAddresses: 5 } });
    const report = scanned([place('1', 'body-text', 3), place('3', 'text-attachment', 40, 'a.csv', 'text/csv'), place('2', 'forwarded-headers', 10)]);
    expect(decide(judged([], report), facts).reason).toBe(
      'the attachment a.csv lists 40 external addresses (+2 more places; 53 distinct in all) > content.maxAddresses 5',
    );
  });

  it('does not repeat a filename that holds an address or control characters in a reason', () => {
    const decide = decideWith({ content: { maxAddresses: 0 } });
    const v = decide(judged([], scanned([place('2', 'text-attachment', 1, 'list-of-bob@ext.example.csv', 'text/csv')])), facts);
    expect(v.reason).toBe('the attachment (part 2, text/csv) lists 1 external address > content.maxAddresses 0');
    const w = decide(judged([], scanned([place('3', 'spreadsheet', 2, 'a\r\nb.xlsx', 'application/vnd.ms-excel')])), facts);
    expect(w.reason).toBe('the attachment a b.xlsx lists 2 external addresses > content.maxAddresses 0');
  });

  it('never violates on a report that was not scanned, or without a threshold', () => {
    expect(decideWith({ content: { maxAddresses: 0 } })(judged([], { scanned: false, atMost: 0 }), facts)).toMatchObject({ action: 'pass' });
    expect(decideWith({})(judged([], csv(1000)), facts)).toMatchObject({ action: 'pass', violation: false });
  });

  it('lists uninspected parts without a violation', () => {
    const decide = decideWith({ content: { maxAddresses: 0 } });
    const report = scanned([], { uninspected: [{ part: '2', contentType: 'application/zip', filename: 'x.zip', why: 'archive' }] });
    expect(decide(judged([], report), facts)).toMatchObject({ action: 'pass', violation: false });
  });

  it('a rule threshold overrides the policy one; a rule without content takes the policy content', () => {
    const decide = decideWith({
      content: { maxAddresses: 100, action: 'monitor' },
      rules: [
        { name: 'hr', authUser: 'hr', content: { maxAddresses: 5, action: 'reject' } },
        { name: 'ops', authUser: 'ops', action: 'quarantine' },
      ],
    });
    expect(decide(judged([], csv(50)), facts)).toMatchObject({ action: 'pass', rule: 'default' });
    expect(decide(judged([], csv(50)), { ...facts, context: { ...context, authUser: 'hr' } })).toMatchObject({ action: 'reject', rule: 'hr', violation: true });
    expect(decide(judged([], csv(150)), { ...facts, context: { ...context, authUser: 'ops' } })).toMatchObject({ action: 'monitor', rule: 'ops' });
  });

  it('a rule may set content alone: its action defaults to quarantine, other rules judge no content', () => {
    const decide = decideWith({ rules: [{ name: 'hr', authUser: 'hr', content: { maxAddresses: 5 } }] });
    expect(decide(judged([], csv(50)), { ...facts, context: { ...context, authUser: 'hr' } })).toMatchObject({ action: 'quarantine', rule: 'hr' });
    expect(decide(judged([], csv(50)), facts)).toMatchObject({ action: 'pass', rule: 'default' });
  });
});

describe('content verdict: bounds', () => {
  it('holds a message a bound stopped, naming the bound and its key, whatever the count and action', () => {
    for (const action of ['monitor', 'quarantine'] as const) {
      const decide = decideWith({ content: { maxAddresses: 20, action } });
      const v = decide(judged([], scanned([], { bound: { kind: 'parts', limit: 500 } })), facts);
      expect(v).toMatchObject({ action: 'quarantine', violation: false, reason: 'content scan stopped at policy.content.limits.maxParts (500)' });
    }
  });

  it('names each bound by its config key', () => {
    const decide = decideWith({ content: { maxAddresses: 20 } });
    const keys = { parts: 'maxParts', depth: 'maxDepth', 'decoded-bytes': 'maxDecodedBytes', cells: 'maxCells', time: 'maxScanMs' } as const;
    for (const [kind, key] of Object.entries(keys)) {
      const v = decide(judged([], scanned([], { bound: { kind: kind as keyof typeof keys, limit: 7 } })), facts);
      expect(v.reason).toBe(`content scan stopped at policy.content.limits.${key} (7)`);
    }
  });

  it('a bound with a count already over a reject threshold rejects, both reasons kept', () => {
    const decide = decideWith({ content: { maxAddresses: 20, action: 'reject' } });
    const v = decide(judged([], { ...csv(30), bound: { kind: 'time', limit: 2000 } } as ContentReport), facts);
    expect(v.action).toBe('reject');
    expect(v.violation).toBe(true);
    expect(v.reason).toBe(
      'the attachment members.csv lists 30 external addresses > content.maxAddresses 20; content scan stopped at policy.content.limits.maxScanMs (2000)',
    );
  });
});

describe('content verdict: the reply to a content reject', () => {
  it('is 550 5.7.1 with the kinds of place, no filename, no rule, no line break', () => {
    const decide = decideWith({ content: { maxAddresses: 5, action: 'reject' }, rules: [{ name: 'secret-rule', authUser: 'x', action: 'monitor' }] });
    const report = scanned([place('2', 'text-attachment', 40, 'members\r\n250 ok.csv', 'text/csv'), place('3', 'forwarded-headers', 10)]);
    const v = decide(judged([], report), facts);
    const line = formatReply(v.rejectReply!);
    expect(line).toBe(
      '550 5.7.1 Message lists 50 external addresses in an attachment and a forwarded message; remove the address list from the message, or share it in a way that does not send it to every recipient',
    );
    expect(line).not.toMatch(/[\r\n]|members|secret|maxAddresses/);
  });
});

describe('content verdict: precedence against the header verdict', () => {
  const ACTIONS: PolicyAction[] = ['pass', 'monitor', 'bcc', 'split', 'quarantine', 'reject'];
  const STRENGTH = { pass: 0, monitor: 1, bcc: 2, split: 2, quarantine: 3, reject: 4 } as const;
  const contentActions = ['monitor', 'quarantine', 'reject'] as const;

  for (const header of ACTIONS.filter((a) => a !== 'pass')) {
    for (const content of contentActions) {
      it(`header ${header} with content ${content}`, () => {
        const decide = decideWith({ maxVisibleExternal: 1, action: header, maxSplitCopies: 1000, content: { maxAddresses: 5, action: content } });
        const v = decide(judged(addresses(3, 'hdr.example'), csv(40)), facts);
        const expected = STRENGTH[content] > STRENGTH[header] ? content : header;
        expect(v.action).toBe(expected);
        expect(v.violation).toBe(true);
        // Both reasons are kept, the header's first.
        expect(v.reason).toMatch(/^3 exposed external addresses > maxVisibleExternal 1; the attachment members\.csv lists 40/);
        if (expected === 'reject') {
          // A header reject keeps its own reply; a content reject gives the content reply.
          expect(v.rejectReply?.text).toMatch(header === 'reject' ? /exposes 3 external recipient addresses/ : /lists 40 external addresses in an attachment/);
        } else {
          expect(v.rejectReply).toBeUndefined();
        }
      });
    }
  }

  it('a clean header and a content violation: the content reason alone', () => {
    const decide = decideWith({ content: { maxAddresses: 5, action: 'monitor' } });
    expect(decide(judged([], csv(40)), facts)).toMatchObject({
      action: 'monitor',
      violation: true,
      reason: 'the attachment members.csv lists 40 external addresses > content.maxAddresses 5',
    });
  });

  it('a refused message stays refused: the content is not judged', () => {
    const decide = decideWith({ content: { maxAddresses: 5, action: 'monitor' } });
    const v = decide({ ...judged([], csv(40)), findings: [{ kind: 'nul-byte' }] }, facts);
    expect(v).toMatchObject({ action: 'reject', violation: false, reason: 'NUL byte in the message' });
  });

  it('the delay applies after the content verdict: a monitored content violation still waits', () => {
    const decide = decideWith({ delaySeconds: 60, content: { maxAddresses: 5, action: 'monitor' } });
    expect(decide(judged([], csv(40)), facts)).toMatchObject({ action: 'monitor', delaySeconds: 60 });
    expect(decideWith({ delaySeconds: 60, content: { maxAddresses: 5 } })(judged([], csv(40)), facts).delaySeconds).toBeUndefined();
  });
});

describe('createJudge: the content scan only when a threshold asks for it', () => {
  const config = (policy: object) => parseConfigObject({ internalDomains: ['example.co.jp'], policy });

  it('is null without policy.content or a rule content threshold', () => {
    expect(createJudge(config({})).scanContent).toBeNull();
    expect(contentSkipAtOrBelow(config({}).policy)).toBeNull();
  });

  it('skips at or below the smallest threshold over the policy and its rules', () => {
    expect(contentSkipAtOrBelow(config({ content: { maxAddresses: 20 } }).policy)).toBe(20);
    const withRules = config({
      content: { maxAddresses: 20 },
      rules: [
        { name: 'a', authUser: 'a', content: { maxAddresses: 3 } },
        { name: 'b', authUser: 'b', action: 'monitor' },
      ],
    });
    expect(contentSkipAtOrBelow(withRules.policy)).toBe(3);
    expect(contentSkipAtOrBelow(config({ rules: [{ name: 'a', authUser: 'a', content: { maxAddresses: 7 } }] }).policy)).toBe(7);
    expect(createJudge(withRules, () => 0).scanContent).toBeTypeOf('function');
  });

  it('needs a clock once content is configured', () => {
    expect(() => createJudge(config({ content: { maxAddresses: 20 } }))).toThrow(TypeError);
  });
});
