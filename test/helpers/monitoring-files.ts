// The monitoring files mail-guard ships (Prometheus alert rules and their promtool
// tests, the Grafana dashboard, the runbook), read from the repository root.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ALERTS = 'config/prometheus/alerts.yml';
export const ALERT_TESTS = 'config/prometheus/alerts.test.yml';
export const DASHBOARD = 'config/grafana/mail-guard.json';
export const RUNBOOK = 'docs/runbook.md';

/** A file below the repository root, as text. */
export const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

interface Dashboard {
  panels: { title: string; targets?: { expr?: string }[]; panels?: Dashboard['panels'] }[];
  annotations?: { list?: { expr?: string }[] };
}

/** Every PromQL expression of the dashboard (panels, nested panels, annotations) and where it stands. */
export function dashboardQueries(): { expr: string; where: string }[] {
  const dashboard = JSON.parse(read(DASHBOARD)) as Dashboard;
  return [
    ...dashboard.panels
      .flatMap((p) => [p, ...(p.panels ?? [])])
      .flatMap((p) => (p.targets ?? []).filter((t) => t.expr).map((t) => ({ expr: t.expr!, where: `${DASHBOARD} panel "${p.title}"` }))),
    ...(dashboard.annotations?.list ?? []).filter((a) => a.expr).map((a) => ({ expr: a.expr!, where: `${DASHBOARD} annotation` })),
  ];
}
