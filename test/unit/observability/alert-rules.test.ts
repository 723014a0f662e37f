// The Prometheus alert rules (config/prometheus/alerts.yml), their promtool unit
// tests (alerts.test.yml), the runbook they link to, and the metric contract
// they (and the Grafana dashboard) query: static checks of the files.
//
// The same files through the real promtool: test/integration/promtool.test.ts
// (check rules, dashboard PromQL) and alert-rule-tests.slow.test.ts (test rules).

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ALERT_TESTS, ALERTS, DASHBOARD, dashboardQueries, read, RUNBOOK } from '../../helpers/monitoring-files.js';

// ----------------------------------------------------------------- the contract

type MetricType = 'counter' | 'gauge' | 'histogram';
/** null: any value (rule names come from the config). */
type LabelValues = readonly string[] | null;

const CONTRACT: Readonly<Record<string, { type: MetricType; labels: Readonly<Record<string, LabelValues>> }>> = {
  mailguard_messages_total: {
    type: 'counter',
    labels: { action: ['pass', 'monitor', 'bcc', 'split', 'quarantine', 'reject', 'capture', 'tempfail', 'delay'] },
  },
  mailguard_violations_total: { type: 'counter', labels: { rule: null } },
  mailguard_visible_external_recipients: { type: 'histogram', labels: {} },
  mailguard_upstream_seconds: { type: 'histogram', labels: {} },
  mailguard_upstream_errors_total: { type: 'counter', labels: { class: ['connect', '4xx', '5xx'] } },
  mailguard_quarantine_messages: {
    type: 'gauge',
    labels: { status: ['held', 'approved', 'released', 'discarded', 'captured', 'failed', 'delayed'] },
  },
  mailguard_smtp_sessions_total: { type: 'counter', labels: { result: ['accepted', 'denied', 'auth_failed'] } },
  mailguard_message_bytes: { type: 'histogram', labels: {} },
  mailguard_ready: { type: 'gauge', labels: {} },
  mailguard_quarantine_oldest_held_seconds: { type: 'gauge', labels: {} },
  mailguard_copies_withheld_total: { type: 'counter', labels: { form: ['bcc', 'split'] } },
  mailguard_auth_lockouts_total: { type: 'counter', labels: {} },
  mailguard_breakers_open: { type: 'gauge', labels: {} },
  mailguard_release_claims_expired: { type: 'gauge', labels: {} },
  mailguard_delayed_messages: { type: 'gauge', labels: {} },
  mailguard_config_reload_total: { type: 'counter', labels: { result: ['success', 'failure'] } },
  mailguard_config_last_reload_success: { type: 'gauge', labels: {} },
  mailguard_config_loaded_timestamp_seconds: { type: 'gauge', labels: {} },
};
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];

/** The labels a series name may carry, or null when the name is not in the contract. */
function labelsOf(name: string): Record<string, LabelValues> | null {
  const exact = CONTRACT[name];
  if (exact) return exact.type === 'histogram' ? null : { ...exact.labels };
  const suffix = /_(bucket|sum|count)$/.exec(name);
  const base = suffix ? CONTRACT[name.slice(0, -suffix[0].length)] : undefined;
  if (!base || base.type !== 'histogram') return null;
  return suffix![1] === 'bucket' ? { ...base.labels, le: null } : { ...base.labels };
}

const ALL_LABELS = new Set([...TARGET_LABELS, 'le', ...Object.values(CONTRACT).flatMap((m) => Object.keys(m.labels))]);

interface Selector {
  name: string;
  matchers: { label: string; op: string; value: string }[];
}

/** Every `mailguard_*` (and `up`) selector in a PromQL expression, with its label matchers. */
function selectorsIn(expr: string): Selector[] {
  const found: Selector[] = [];
  for (const m of expr.matchAll(/\b(mailguard_[a-z0-9_]+|up)\b(?!\s*\()(\s*\{([^}]*)\})?/g)) {
    const matchers = [...(m[3] ?? '').matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((x) => ({
      label: x[1]!,
      op: x[2]!,
      value: x[3]!,
    }));
    found.push({ name: m[1]!, matchers });
  }
  return found;
}

/** Problems with one expression against the contract; [] when it is fine. */
function contractProblems(expr: string, where: string): string[] {
  const problems: string[] = [];
  for (const sel of selectorsIn(expr)) {
    if (sel.name === 'up') continue;
    const labels = labelsOf(sel.name);
    if (!labels) {
      problems.push(
        `${where}: ${sel.name} is not a mail-guard metric (DESIGN.md "Metrics" + mailguard_ready, mailguard_quarantine_oldest_held_seconds; histograms only as _bucket/_sum/_count)`,
      );
      continue;
    }
    for (const { label, op, value } of sel.matchers) {
      if (TARGET_LABELS.includes(label)) continue;
      if (!(label in labels)) {
        problems.push(`${where}: ${sel.name} has no label "${label}"`);
        continue;
      }
      const allowed = labels[label];
      if (!allowed || op.startsWith('!')) continue;
      const literals = op === '=' ? [value] : value.split('|').filter((alt) => /^[\w-]+$/.test(alt));
      for (const literal of literals) {
        if (!allowed.includes(literal)) problems.push(`${where}: ${sel.name}{${label}="${literal}"} is not one of ${allowed.join(', ')}`);
      }
    }
  }
  for (const m of expr.matchAll(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    for (const label of m[2]!
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean)) {
      if (!ALL_LABELS.has(label)) problems.push(`${where}: "${m[1]} (${label})": no mail-guard series has the label "${label}"`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------- the rule files

interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; interval?: string; rules: AlertRule[] }[];
}
interface AlertTestFile {
  rule_files: string[];
  tests: {
    name?: string;
    input_series: { series: string; values: string }[];
    alert_rule_test?: {
      eval_time: string;
      alertname: string;
      exp_alerts?: { exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }[];
    }[];
  }[];
}
const rules = parse(read(ALERTS)) as RuleFile;
const alertRules = rules.groups.flatMap((g) => g.rules.filter((r) => r.alert !== undefined));
const alertNames = [...new Set(alertRules.map((r) => r.alert!))];
const alertTests = parse(read(ALERT_TESTS)) as AlertTestFile;
const dashboardExprs = dashboardQueries();

/** GitHub's heading anchors (lowercase, punctuation dropped, spaces to dashes) plus explicit <a id>/<a name>. */
function runbookAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      anchors.add(
        heading[1]!
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      );
    }
    for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(a[1]!);
  }
  return anchors;
}

// ------------------------------------------------------------- static checks

describe('alert rules', () => {
  it('one rule group "mail-guard" with every alert the issue asks for', () => {
    expect(rules.groups.map((g) => g.name)).toEqual(['mail-guard']);
    expect(alertNames).toEqual(
      expect.arrayContaining([
        'MailGuardViolationDetected',
        'MailGuardQuarantineBacklogGrowing',
        'MailGuardHeldMailTooOld',
        'MailGuardUpstreamErrors',
        'MailGuardTempfailRatioHigh',
        'MailGuardDown',
        'MailGuardNotReady',
        'MailGuardNoTraffic',
        'MailGuardBreakerOpen',
        'MailGuardConfigReloadFailed',
      ]),
    );
  });

  it.each(alertRules.map((r, i) => [`${r.alert} (#${i + 1})`, r] as const))(
    '%s: severity, summary, a description that says what to do, and a runbook_url whose anchor exists',
    (_name, rule) => {
      const anchors = runbookAnchors(read(RUNBOOK));
      expect(['page', 'ticket']).toContain(rule.labels?.['severity']);
      const { summary, description, runbook_url: runbookUrl } = rule.annotations ?? {};
      expect(summary?.trim()).toBeTruthy();
      expect(description?.trim().length).toBeGreaterThan(80);
      expect(runbookUrl).toMatch(/^docs\/runbook\.md#[a-z0-9_-]+$/);
      const anchor = runbookUrl!.split('#')[1]!;
      expect(anchors.has(anchor), `${RUNBOOK} has no section with anchor #${anchor}`).toBe(true);
    },
  );

  it('each summary starts by naming the situation: campaign, mail-guard, relay, mail deferred or no mail', () => {
    const situations = [
      'EXPOSING CAMPAIGN',
      'CAMPAIGN LEAKED',
      'COPY HELD',
      'SENDER PAUSED',
      'RELEASE STUCK',
      'REVIEW BACKLOG',
      'MAIL-GUARD DOWN',
      'MAIL-GUARD NOT READY',
      'MAIL-GUARD CONFIG NOT RELOADED',
      'RELAY DOWN',
      'RELAY REFUSING',
      'MAIL DEFERRED',
      'NO MAIL',
    ];
    const startsWithSituation = (text: string): boolean => situations.some((s) => text.startsWith(s));
    for (const rule of alertRules) {
      const summary = rule.annotations!['summary']!;
      expect(summary.startsWith('{{') || startsWithSituation(summary), `${rule.alert}: summary "${summary}"`).toBe(true);
    }
    // As rendered by Prometheus (promtool compares these exactly), template branches included.
    const rendered = alertTests.tests
      .flatMap((t) => t.alert_rule_test ?? [])
      .flatMap((c) => (c.exp_alerts ?? []).map((a) => [c.alertname, a.exp_annotations?.['summary']] as const));
    for (const name of alertNames)
      expect(
        rendered.some(([n, s]) => n === name && s),
        `${name}: no rendered summary in ${ALERT_TESTS}`,
      ).toBe(true);
    for (const [name, summary] of rendered) expect(startsWithSituation(summary ?? ''), `${name}: rendered summary "${summary}"`).toBe(true);
  });

  it('every selector is scoped to job="mail-guard"', () => {
    const unscoped = alertRules.flatMap((rule) =>
      selectorsIn(rule.expr)
        .filter((s) => !s.matchers.some((m) => m.label === 'job' && m.op === '=' && m.value === 'mail-guard'))
        .map((s) => `${rule.alert}: ${s.name}`),
    );
    expect(unscoped).toEqual([]);
  });

  it('every alert has a promtool test where it fires and one where it stays quiet', () => {
    expect(alertTests.rule_files).toEqual(['alerts.yml']);
    const checks = alertTests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const name of alertNames) {
      const mine = checks.filter((c) => c.alertname === name);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${name} never fires in ${ALERT_TESTS}`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${name} is never shown to stay quiet in ${ALERT_TESTS}`,
      ).toBe(true);
    }
    // A test for an alert that does not exist passes vacuously with exp_alerts: [].
    expect(checks.map((c) => c.alertname).filter((n) => !alertNames.includes(n))).toEqual([]);
  });

  it('the runbook has a section for every alert and the "Reading the signals" table', () => {
    const runbook = read(RUNBOOK);
    const anchors = runbookAnchors(runbook);
    for (const name of alertNames) expect(anchors.has(name.toLowerCase()), `no "## ${name}" in ${RUNBOOK}`).toBe(true);
    const sections = [...runbook.matchAll(/^## (MailGuard\w+)/gm)].map((m) => m[1]!);
    expect(sections.filter((s) => !alertNames.includes(s))).toEqual([]);
    expect(anchors.has('reading-the-signals')).toBe(true);
    expect(runbook).toMatch(/\|\s*what you see\s*\|.*campaign.*\|.*mail-guard is down.*\|.*relay is down/i);
  });
});

describe('metric contract', () => {
  it("the contract's own helpers work", () => {
    expect(contractProblems('rate(mailguard_messages_total{action="tempfail"}[5m])', 'x')).toEqual([]);
    expect(contractProblems('rate(mailguard_upstream_seconds_bucket{le="1"}[5m])', 'x')).toEqual([]);
    expect(contractProblems('mailguard_upstream_seconds', 'x')).toHaveLength(1);
    expect(contractProblems('mailguard_message_total', 'x')).toHaveLength(1);
    expect(contractProblems('mailguard_messages_total{action="tmpfail"}', 'x')).toHaveLength(1);
    expect(contractProblems('mailguard_upstream_errors_total{class=~"4xx|6xx"}', 'x')).toHaveLength(1);
    expect(contractProblems('sum by (reason) (mailguard_violations_total)', 'x')).toHaveLength(1);
  });

  it(`every mailguard_* metric, label and label value in ${ALERTS} is in the contract`, () => {
    const problems = alertRules.flatMap((r) => contractProblems(r.expr, `${ALERTS} ${r.alert}`));
    expect(problems).toEqual([]);
    expect(alertRules.flatMap((r) => selectorsIn(r.expr)).length).toBeGreaterThan(10);
  });

  it(`every series in ${ALERT_TESTS} is a contract series with all its labels`, () => {
    const problems: string[] = [];
    for (const test of alertTests.tests) {
      for (const { series } of test.input_series) {
        const where = `${ALERT_TESTS} "${test.name}"`;
        problems.push(...contractProblems(series, where));
        const [sel] = selectorsIn(series);
        if (!sel || sel.name === 'up') continue;
        const present = new Set(sel.matchers.map((m) => m.label));
        for (const label of [...TARGET_LABELS, ...Object.keys(labelsOf(sel.name) ?? {})]) {
          if (!present.has(label)) problems.push(`${where}: ${series} lacks the label "${label}"`);
        }
        if (!sel.matchers.some((m) => m.label === 'job' && m.value === 'mail-guard')) problems.push(`${where}: ${series} is not job="mail-guard"`);
      }
    }
    expect(problems).toEqual([]);
  });

  it(`every mailguard_* metric, label and label value in ${DASHBOARD} is in the contract`, () => {
    const problems = dashboardExprs.flatMap((q) => contractProblems(q.expr, q.where));
    expect(problems).toEqual([]);
    expect(dashboardExprs.length).toBeGreaterThan(10);
  });

  it(`every mailguard_* name in ${RUNBOOK} is in the contract`, () => {
    const names = [...read(RUNBOOK).matchAll(/\bmailguard_[a-z0-9_]+/g)].map((m) => m[0]);
    const unknown = names.filter((n) => !labelsOf(n) && !CONTRACT[n]);
    expect(unknown).toEqual([]);
  });
});
