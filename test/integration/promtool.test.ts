// The alert rules and the dashboard queries, checked by the real promtool
// (test/helpers/promtool.ts: skipped without it, unless CI requires it). Its
// unit tests of the rules take half a minute: alert-rule-tests.slow.test.ts.
// The static checks of the same files: test/unit/observability/alert-rules.test.ts.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ALERTS, dashboardQueries } from '../helpers/monitoring-files.js';
import { expectPromtoolSuccess, skipPromtool } from '../helpers/promtool.js';

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skipPromtool)('promtool', () => {
  it(`promtool check rules ${ALERTS}`, async () => {
    await expectPromtoolSuccess(['check', 'rules', ALERTS]);
  });

  it('every dashboard query is valid PromQL (checked by promtool as recording rules)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mail-guard-dashboard-'));
    tempDirs.push(dir);
    const substitute = (expr: string): string =>
      expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$job', 'mail-guard').replaceAll('$instance', '.*');
    const file = join(dir, 'dashboard-queries.yml');
    const recording = dashboardQueries().map((q, i) => ({ record: `dashboard:query_${i}`, expr: substitute(q.expr) }));
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: recording }] }, null, 2));
    expect(recording.length).toBeGreaterThan(10);
    await expectPromtoolSuccess(['check', 'rules', file]);
  });
});
