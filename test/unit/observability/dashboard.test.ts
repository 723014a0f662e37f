// The Grafana dashboard (config/grafana/mail-guard.json) is importable and shows
// what the on-call needs. Its queries are checked against the metric contract
// and as PromQL by promtool in alert-rules.test.ts.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PATH = fileURLToPath(new URL('../../../config/grafana/mail-guard.json', import.meta.url));

interface Target {
  refId?: string;
  expr?: string;
  format?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
  fieldConfig?: { defaults?: { unit?: string } };
}
interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  __inputs?: { name: string; type: string; pluginId: string }[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
  panels: Panel[];
}

const text = readFileSync(PATH, 'utf8');

describe('grafana dashboard', () => {
  const dashboard = JSON.parse(text) as Dashboard;
  const all = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const panels = all.filter((p) => p.type !== 'row');
  const exprs = (p: Panel): string[] => (p.targets ?? []).map((t) => t.expr ?? '');
  /** The panels with a query that matches every pattern. */
  const showing = (...patterns: RegExp[]): Panel[] => panels.filter((p) => exprs(p).some((e) => patterns.every((re) => re.test(e))));

  it('is JSON an import accepts: title, uid, schemaVersion ~39, a Prometheus data source to pick', () => {
    expect(dashboard.title).toBe('mail-guard');
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.schemaVersion).toBeLessThanOrEqual(41);
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource' && v.query === 'prometheus');
    const input = dashboard.__inputs?.find((i) => i.type === 'datasource' && i.pluginId === 'prometheus');
    expect(variable ?? input, 'a datasource variable or a ${DS_PROMETHEUS} input').toBeTruthy();
  });

  it('every panel and query uses the chosen data source, never a hard-coded uid', () => {
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource');
    const uid = variable ? `\${${variable.name}}` : '${DS_PROMETHEUS}';
    for (const p of panels) {
      expect(p.datasource?.uid, p.title).toBe(uid);
      for (const t of p.targets ?? []) expect(t.datasource?.uid ?? uid, `${p.title} ${t.refId}`).toBe(uid);
    }
  });

  it('every panel has queries with distinct refIds, scoped to the $job and $instance variables', () => {
    expect(panels.length).toBeGreaterThanOrEqual(12);
    for (const p of panels) {
      const targets = p.targets ?? [];
      expect(targets.length, `panel "${p.title}" has no targets`).toBeGreaterThan(0);
      for (const t of targets) {
        expect(t.expr?.trim(), `panel "${p.title}" ${t.refId}`).toBeTruthy();
        // every selector carries the filter, so the variables really filter
        for (const m of t.expr!.matchAll(/\b(mailguard_\w+|up|process_\w+|nodejs_\w+)\s*(\{[^}]*\})?/g)) {
          expect(m[2] ?? '', `panel "${p.title}": ${m[1]}`).toContain('job="$job",instance=~"$instance"');
        }
      }
      const refIds = targets.map((t) => t.refId);
      expect(new Set(refIds).size, `panel "${p.title}" refIds`).toBe(refIds.length);
    }
    const names = dashboard.templating.list.map((v) => v.name);
    expect(names).toEqual(expect.arrayContaining(['job', 'instance']));
  });

  it('panel ids are unique and panels lie on the 24-column grid without overlapping', () => {
    const ids = all.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of all) {
      const { x, y, w, h } = p.gridPos;
      expect(x >= 0 && w > 0 && h > 0 && y >= 0 && x + w <= 24, `${p.title} ${JSON.stringify(p.gridPos)}`).toBe(true);
    }
    for (const [i, a] of all.entries()) {
      for (const b of all.slice(i + 1)) {
        const overlap =
          a.gridPos.x < b.gridPos.x + b.gridPos.w &&
          b.gridPos.x < a.gridPos.x + a.gridPos.w &&
          a.gridPos.y < b.gridPos.y + b.gridPos.h &&
          b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `"${a.title}" overlaps "${b.title}"`).toBe(false);
      }
    }
  });

  it('has the panels the issue asks for', () => {
    expect(showing(/mailguard_messages_total/, /by \(action\)/), 'message rate by action').not.toHaveLength(0);
    expect(showing(/mailguard_violations_total/, /by \(rule\)/), 'violations by rule').not.toHaveLength(0);
    const heatmap = panels.find(
      (p) => p.type === 'heatmap' && (p.targets ?? []).some((t) => t.format === 'heatmap' && /mailguard_visible_external_recipients_bucket/.test(t.expr ?? '')),
    );
    expect(heatmap, 'exposed external recipients heatmap').toBeTruthy();
    const latency = showing(/histogram_quantile\(0\.5,.*mailguard_upstream_seconds_bucket/).filter((p) =>
      exprs(p).some((e) => /histogram_quantile\(0\.99,.*mailguard_upstream_seconds_bucket/.test(e)),
    );
    expect(latency, 'upstream latency p50 and p99 in one panel').toHaveLength(1);
    expect(latency[0]!.fieldConfig?.defaults?.unit).toBe('s');
    expect(showing(/mailguard_upstream_errors_total/, /by \(class\)/), 'upstream errors by class').not.toHaveLength(0);
    expect(showing(/mailguard_quarantine_messages\{/, /by \(status\)/), 'quarantine by status').not.toHaveLength(0);
    const oldest = showing(/mailguard_quarantine_oldest_held_seconds/).filter((p) => p.fieldConfig?.defaults?.unit === 's');
    expect(oldest, 'oldest held age in seconds').not.toHaveLength(0);
    expect(showing(/mailguard_ready/), 'readiness').not.toHaveLength(0);
    expect(showing(/^min\(up\{/), 'up at a glance').not.toHaveLength(0);
    expect(showing(/mailguard_smtp_sessions_total/, /by \(result\)/), 'SMTP sessions by result').not.toHaveLength(0);
    const size = showing(/mailguard_message_bytes_bucket/).filter((p) => p.fieldConfig?.defaults?.unit === 'bytes');
    expect(size, 'message size in bytes').not.toHaveLength(0);
  });

  it('has the panels the runbook and the alert descriptions point to, by title', () => {
    const titles = panels.map((p) => p.title);
    expect(titles).toEqual(
      expect.arrayContaining([
        'Up',
        'Ready',
        'Messages by action',
        'Violations by rule',
        'Upstream latency p50 / p99',
        'Upstream errors by class',
        'Quarantine by status',
        'Oldest held message',
        'Readiness',
        'SMTP sessions by result',
        'Message size',
      ]),
    );
  });
});
