import type { Command } from 'commander';
import { callAdminApi as call, cell, runApiAction as run, table, type ApiOptions } from './admin-client.js';

// `mail-guard breaker …`: the open breakers (policy.breaker) and their reset,
// through the admin API like `quarantine` (same options, same exit codes:
// 0 done, 1 refused, 2 usage or unreachable, 3 failed), so a reset is audited
// under the token's name.

interface ListedBreaker {
  id: string;
  sender: string;
  openedAt: string;
  violations: number;
  windowSeconds: number;
  action: string;
}

function listTable(breakers: readonly ListedBreaker[]): string {
  if (breakers.length === 0) return 'no open breakers\n';
  const rows = breakers.map((b) => [
    b.id,
    b.openedAt.replace('T', ' ').slice(0, 19),
    String(b.violations),
    `${b.windowSeconds} s`,
    cell(b.action),
    cell(b.sender),
  ]);
  return table(['ID', 'OPENED', 'VIOLATIONS', 'WINDOW', 'ACTION', 'SENDER'], rows, new Set([2]));
}

export function registerBreakerCommands(program: Command): void {
  const breaker = program
    .command('breaker')
    .description('senders paused by policy.breaker, through the admin API (--admin/--token or MAIL_GUARD_ADMIN_URL/MAIL_GUARD_TOKEN)')
    .option('--admin <url>', 'admin API base URL (default $MAIL_GUARD_ADMIN_URL or http://127.0.0.1:9025)')
    .option('--token <token>', 'bearer token (default $MAIL_GUARD_TOKEN)');
  const api = (): ApiOptions => breaker.opts<ApiOptions>();

  breaker
    .command('list')
    .description('open breakers, oldest first')
    .option('--json', 'print them as JSON')
    .action(
      run(async (opts: { json?: boolean }) => {
        const { breakers } = (await call(api(), 'GET', '/api/breakers')) as { breakers: ListedBreaker[] };
        process.stdout.write(opts.json ? JSON.stringify({ breakers }, null, 2) + '\n' : listTable(breakers));
      }),
    );
  breaker
    .command('reset <id>')
    .description("close a sender's breaker (its id from `breaker list`); its next message is judged by its own verdict again")
    .option('--reason <text>', 'why (kept in the audit log)')
    .action(
      run(async (id: string, opts: { reason?: string }) => {
        const answer = await call(api(), 'POST', `/api/breakers/${encodeURIComponent(id)}/reset`, { reason: opts.reason });
        process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
      }),
    );
}
