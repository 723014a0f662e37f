import { describe, expect, it } from 'vitest';
import { parseConfigObject } from '../../../src/config/load.js';
import type { ExposureReport } from '../../../src/analysis/exposure-report.js';
import { createDecide, type Judged } from '../../../src/policy/decide.js';
import { strongerAction } from '../../../src/policy/action-precedence.js';
import type { TransactionContext } from '../../../src/policy/verdict.js';
import { ACTIONS } from '../../../src/config/schema.js';

/** An analysis with these exposed addresses; `truncated` adds the address-budget finding analysis reports with it. */
function exposure(exposed: string[], extra: Partial<ExposureReport> = {}): Judged {
  const domains = new Set(exposed.map((a) => a.split('@')[1]));
  const findings: Judged['findings'] = extra.truncated ? [{ kind: 'address-budget', max: 50 }] : [];
  return {
    findings,
    content: null,
    exposure: {
      visible: [],
      visibleExternalCount: exposed.length,
      exposedExternal: exposed,
      exposedExternalDomainCount: domains.size,
      exposingHeaders: exposed.length ? ['To'] : [],
      truncated: false,
      addressesSeen: exposed.length,
      ...extra,
    },
  };
}

const ctx = (over: Partial<TransactionContext> = {}): TransactionContext => ({
  mailFrom: 'app@example.co.jp',
  rcptTo: ['a@ext1.com', 'b@ext2.com'],
  clientAddress: '127.0.0.1',
  ...over,
});

const decideWith = (policy: object) => createDecide(parseConfigObject({ policy }).policy);

describe('decide: thresholds', () => {
  it('passes at the threshold and violates one above it', () => {
    const decide = decideWith({ maxVisibleExternal: 2, action: 'reject' });
    expect(decide(exposure(['a@x.com', 'b@y.com']), { context: ctx(), headerFromDomain: null })).toMatchObject({
      action: 'pass',
      violation: false,
      rule: 'default',
    });
    const v = decide(exposure(['a@x.com', 'b@y.com', 'c@z.com']), { context: ctx(), headerFromDomain: null });
    expect(v).toMatchObject({ action: 'reject', violation: true, rule: 'default' });
    expect(v.rejectReply?.code).toBe(550);
    expect(v.rejectReply?.enhanced).toBe('5.7.1');
    expect(v.rejectReply?.text).toMatch(/3 external recipient addresses.*To.*Bcc/);
  });

  it('counts distinct external domains when maxVisibleExternalDomains is set', () => {
    const decide = decideWith({ maxVisibleExternal: 100, maxVisibleExternalDomains: 1, action: 'bcc' });
    const sameDomain = exposure(['a@x.com', 'b@x.com', 'c@x.com']);
    expect(decide(sameDomain, { context: ctx(), headerFromDomain: null }).action).toBe('pass');
    const twoDomains = exposure(['a@x.com', 'b@y.com']);
    const v = decide(twoDomains, { context: ctx(), headerFromDomain: null });
    expect(v).toMatchObject({ action: 'bcc', violation: true });
    expect(v.reason).toMatch(/domains/);
  });

  it('monitor reports the violation but lets the message through', () => {
    const v = decideWith({ action: 'monitor' })(exposure(['a@x.com', 'b@y.com']), { context: ctx(), headerFromDomain: null });
    expect(v).toMatchObject({ action: 'monitor', violation: true });
  });

  it('rejects whatever the rule says when the address bound was hit', () => {
    const v = decideWith({ action: 'pass', maxAddresses: 50 })(exposure([], { truncated: true }), { context: ctx(), headerFromDomain: null });
    expect(v).toMatchObject({ action: 'reject', violation: true });
    expect(v.rejectReply?.text).toMatch(/more than 50 addresses/);
  });

  it('refuses a split wider than maxSplitCopies instead of sending thousands of copies', () => {
    const decide = decideWith({ action: 'split', maxSplitCopies: 2 });
    const v = decide(exposure(['a@x.com', 'b@y.com', 'c@z.com']), { context: ctx({ rcptTo: ['a@x.com', 'b@y.com', 'c@z.com'] }), headerFromDomain: null });
    expect(v).toMatchObject({ action: 'reject', violation: true });
    expect(v.rejectReply).toMatchObject({ code: 550, enhanced: '5.5.3' });
  });
});

describe('decide: rules', () => {
  const policy = {
    action: 'quarantine',
    rules: [
      { name: 'newsletter', from: 'news@example.co.jp', action: 'split' },
      { name: 'crm-domain', fromDomain: '*.crm.example.co.jp', action: 'bcc' },
      { name: 'batch-host', client: '10.1.0.0/16', maxVisibleExternal: 5, action: 'reject' },
      { name: 'reports-user', authUser: 'reports', action: 'monitor' },
      { name: 'both', from: '*@partner.example.co.jp', client: '192.0.2.0/24', action: 'pass' },
    ],
  };
  const decide = decideWith(policy);
  const bad = exposure(['a@x.com', 'b@y.com']);

  it('selects by envelope sender, header From domain, client address and AUTH user', () => {
    expect(decide(bad, { context: ctx({ mailFrom: 'NEWS@example.co.jp' }), headerFromDomain: null }).rule).toBe('newsletter');
    expect(decide(bad, { context: ctx(), headerFromDomain: 'eu.crm.example.co.jp' }).rule).toBe('crm-domain');
    expect(decide(bad, { context: ctx(), headerFromDomain: 'crm.example.co.jp' }).rule).toBe('default');
    expect(decide(bad, { context: ctx({ clientAddress: '::ffff:10.1.2.3' }), headerFromDomain: null }).rule).toBe('batch-host');
    expect(decide(bad, { context: ctx({ authUser: 'reports' }), headerFromDomain: null }).rule).toBe('reports-user');
  });

  it('applies the matched rule threshold, not the policy one', () => {
    const v = decide(bad, { context: ctx({ clientAddress: '10.1.2.3' }), headerFromDomain: null });
    expect(v).toMatchObject({ rule: 'batch-host', action: 'pass', violation: false });
  });

  it('first match wins when several rules match', () => {
    // newsletter (sender) and crm-domain (From domain) both hold: the earlier one decides.
    const v = decide(bad, { context: ctx({ mailFrom: 'news@example.co.jp' }), headerFromDomain: 'x.crm.example.co.jp' });
    expect(v).toMatchObject({ rule: 'newsletter', action: 'split' });
    // crm-domain and reports-user both hold: crm-domain is listed first.
    const w = decide(bad, { context: ctx({ authUser: 'reports' }), headerFromDomain: 'x.crm.example.co.jp' });
    expect(w).toMatchObject({ rule: 'crm-domain', action: 'bcc' });
  });

  it('needs every condition of a rule to hold', () => {
    expect(decide(bad, { context: ctx({ mailFrom: 'a@partner.example.co.jp' }), headerFromDomain: null }).rule).toBe('default');
    expect(decide(bad, { context: ctx({ mailFrom: 'a@partner.example.co.jp', clientAddress: '192.0.2.7' }), headerFromDomain: null }).rule).toBe('both');
  });

  it('falls back to the policy action when nothing matches', () => {
    expect(decide(bad, { context: ctx(), headerFromDomain: 'other.com' })).toMatchObject({ rule: 'default', action: 'quarantine' });
  });
});

describe('action precedence', () => {
  const order = ['pass', 'monitor', 'bcc', 'quarantine', 'reject'] as const;
  for (let i = 0; i < order.length; i++) {
    for (let j = i + 1; j < order.length; j++) {
      it(`${order[j]} beats ${order[i]} in either order`, () => {
        expect(strongerAction(order[i]!, order[j]!)).toBe(order[j]);
        expect(strongerAction(order[j]!, order[i]!)).toBe(order[j]);
      });
    }
  }
  it('split and bcc rank alike and above monitor', () => {
    expect(strongerAction('split', 'bcc')).toBe('split');
    expect(strongerAction('bcc', 'split')).toBe('bcc');
    expect(strongerAction('monitor', 'split')).toBe('split');
    expect(strongerAction('split', 'quarantine')).toBe('quarantine');
  });
  it('covers every configurable action', () => {
    for (const a of ACTIONS) expect(strongerAction(a, 'reject')).toBe('reject');
  });
});
