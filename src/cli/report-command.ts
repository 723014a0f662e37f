import type { Command } from 'commander';
import { ApiError, callAdminApi, cell, QUARANTINE_EXIT, runApiAction, table, type ApiOptions } from './admin-client.js';

// `mail-guard report`: the rehearsal report (GET /api/report) as a table, per
// campaign what each message got or would have got, and why.

/** The verdict actions as the report's columns, in the words a person uses. */
const COLUMNS: ReadonlyArray<readonly [action: string, head: string]> = [
  ['pass', 'PASS'],
  ['monitor', 'MONITOR'],
  ['split', 'SPLIT'],
  ['bcc', 'BCC'],
  ['quarantine', 'HELD'],
  ['reject', 'REJECT'],
];
const KNOWN = new Set(COLUMNS.map(([action]) => action));

interface ReportJson {
  since: string | null;
  mode: 'rehearsal' | 'live';
  complete: boolean;
  truncated: boolean;
  scanned: number;
  totals: { messages: number; verdicts: Record<string, number>; failedCopies: number };
  campaigns: Array<{
    sender: string;
    subject: string | null;
    messages: number;
    verdicts: Record<string, number>;
    reasons: Array<{ action: string; reason: string; count: number }>;
    reasonsOmitted: number;
    failedCopies: number;
  }>;
}

const RELATIVE = /^(\d{1,5})([mhd])$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** --since: an ISO time or date as the API takes it, or a span back from now (30m, 24h, 7d). */
export function sinceParameter(value: string, now = Date.now()): string {
  const relative = RELATIVE.exec(value);
  if (relative) return new Date(now - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS]).toISOString();
  return value;
}

function other(verdicts: Record<string, number>): number {
  return Object.entries(verdicts).reduce((n, [action, count]) => (KNOWN.has(action) ? n : n + count), 0);
}

export function reportText(report: ReportJson): string {
  const scope = report.since ? `received since ${report.since}` : 'in the store';
  const lines: string[] = [];
  if (report.mode === 'rehearsal') {
    lines.push(`Rehearsal mode: what mail-guard would have done to every message ${scope}.`);
  } else {
    lines.push(`Live mode: only the messages mail-guard kept (held, refused copies) ${scope}; what passed, was split or rejected is not stored.`);
  }
  if (report.truncated) lines.push(`Only the newest ${report.scanned} records were read; older ones are not counted.`);
  lines.push('');

  const withOther = report.campaigns.some((c) => other(c.verdicts) > 0);
  const head = ['MESSAGES', ...COLUMNS.map(([, h]) => h), ...(withOther ? ['OTHER'] : []), 'SENDER', 'SUBJECT'];
  const counts = (messages: number, verdicts: Record<string, number>) => [
    String(messages),
    ...COLUMNS.map(([action]) => String(verdicts[action] ?? 0)),
    ...(withOther ? [String(other(verdicts))] : []),
  ];
  const rows = report.campaigns.map((c) => [...counts(c.messages, c.verdicts), cell(c.sender) || '<>', cell(c.subject)]);
  rows.push([...counts(report.totals.messages, report.totals.verdicts), '(all campaigns)', '']);
  const numeric = new Set(head.map((_, i) => i).filter((i) => i < head.length - 2));
  lines.push(table(head, rows, numeric).trimEnd());

  for (const c of report.campaigns) {
    lines.push('', `${cell(c.sender) || '<>'}  ${cell(c.subject)}`.trimEnd());
    const width = Math.max(...c.reasons.map((r) => String(r.count).length), 1);
    const actionWidth = Math.max(...c.reasons.map((r) => r.action.length), 1);
    for (const r of c.reasons) lines.push(`  ${String(r.count).padStart(width)}  ${cell(r.action).padEnd(actionWidth)}  ${cell(r.reason)}`);
    if (c.reasonsOmitted > 0) lines.push(`  … and ${c.reasonsOmitted} more distinct reasons (--json lists the top ones with counts)`);
    if (c.failedCopies > 0) lines.push(`  ${c.failedCopies} cop${c.failedCopies === 1 ? 'y' : 'ies'} refused by the upstream after the 250 (status failed)`);
  }
  return lines.join('\n') + '\n';
}

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description('per campaign (sender + subject): what each message got, or in rehearsal mode would have got, and why')
    .option('--since <time>', 'only messages received since: ISO time (2026-11-29T09:00:00+09:00), date (UTC), or 30m / 24h / 7d ago')
    .option('--json', 'print the report as JSON (GET /api/report)')
    .option('--admin <url>', 'admin API base URL (default $MAIL_GUARD_ADMIN_URL or http://127.0.0.1:9025)')
    .option('--token <token>', 'bearer token (default $MAIL_GUARD_TOKEN)')
    .action(
      runApiAction(async (opts: ApiOptions & { since?: string; json?: boolean }) => {
        if (opts.since !== undefined && opts.since.trim() === '') throw new ApiError('--since needs a time', QUARANTINE_EXIT.usage);
        const query = opts.since === undefined ? '' : `?${new URLSearchParams({ since: sinceParameter(opts.since.trim()) }).toString()}`;
        const report = (await callAdminApi(opts, 'GET', `/api/report${query}`)) as ReportJson;
        process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : reportText(report));
      }),
    );
}
