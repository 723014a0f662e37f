import type { Command } from 'commander';
import { ApiError, callAdminApi as call, cell, QUARANTINE_EXIT, runApiAction as run, table, type ApiOptions } from './admin-client.js';

// `mail-guard quarantine …` talks to a running mail-guard through its admin
// API, so the CLI needs no store credentials and every action is audited
// under the token's name exactly like a click in the API.

export { QUARANTINE_EXIT } from './admin-client.js';

const print = (value: unknown): void => {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
};

interface ListedRecord {
  id: string;
  receivedAt: string;
  status: string;
  envelope: { mailFrom: string; rcptTo: string[] };
  subject: string | null;
  analysis: { exposedExternalCount: number } | null;
  verdict: { action: string; rule: string } | null;
}

interface ListedPage {
  records: ListedRecord[];
  nextCursor: string | null;
  scanned: number;
}

function listTable(records: ListedRecord[]): string {
  const rows = records.map((r) => [
    r.id,
    r.receivedAt.replace('T', ' ').slice(0, 19),
    r.status,
    cell(r.verdict?.action ?? '-'),
    cell(r.verdict?.rule ?? '-'),
    String(r.analysis?.exposedExternalCount ?? '-'),
    String(r.envelope.rcptTo.length),
    cell(r.subject),
  ]);
  return table(['ID', 'RECEIVED', 'STATUS', 'VERDICT', 'RULE', 'EXPOSED', 'RCPTS', 'SUBJECT'], rows);
}

interface ListOptions {
  status?: string;
  action?: string;
  rule?: string;
  sender?: string;
  q?: string;
  violation?: string;
  limit: string;
  cursor?: string;
  json?: boolean;
}

export function registerQuarantineCommands(program: Command): void {
  const quarantine = program
    .command('quarantine')
    .description('review held and captured mail through the admin API (--admin/--token or MAIL_GUARD_ADMIN_URL/MAIL_GUARD_TOKEN)')
    .option('--admin <url>', 'admin API base URL (default $MAIL_GUARD_ADMIN_URL or http://127.0.0.1:9025)')
    .option('--token <token>', 'bearer token (default $MAIL_GUARD_TOKEN)');
  const api = (): ApiOptions => quarantine.opts<ApiOptions>();

  quarantine
    .command('list')
    .description("records, newest first; the next page's --cursor goes to stderr, so stdout stays a table")
    .option('--status <status>', 'held | approved | released | discarded | captured | failed | delayed')
    .option('--action <action>', "the verdict's action: pass | monitor | bcc | split | quarantine | reject")
    .option('--rule <name>', 'the rule that decided ("default" when no rule matched)')
    .option('--sender <address>', 'envelope sender, whole address, any case')
    .option('--q <text>', 'text in the subject, From or sender (any case, full-width or half-width)')
    .option('--violation <bool>', 'true: broke a threshold; false: did not')
    .option('--limit <n>', 'how many', '50')
    .option('--cursor <cursor>', 'continue after the previous page (the cursor it printed)')
    .option('--json', 'print the page as JSON (records, nextCursor, scanned)')
    .action(
      run(async (opts: ListOptions) => {
        const { limit, json, ...filters } = opts;
        const query = new URLSearchParams({ limit });
        for (const [key, value] of Object.entries(filters)) if (value !== undefined) query.set(key, value);
        const page = (await call(api(), 'GET', `/api/messages?${query.toString()}`)) as ListedPage;
        process.stdout.write(json ? JSON.stringify(page, null, 2) + '\n' : listTable(page.records));
        if (!json && page.nextCursor !== null) {
          // A page cut short by the store's scan bound is not the end: say so, or a sparse filter looks empty.
          const why = page.records.length < Number(limit) ? ` (searched ${page.scanned} records for this page; older ones not searched yet)` : '';
          process.stderr.write(`more${why}: --cursor ${page.nextCursor}\n`);
        }
      }),
    );
  quarantine
    .command('show <id>')
    .description('one record: envelope, analysis, verdict, history, and a safe text preview')
    .action(
      run(async (id: string) => {
        const [record, preview] = await Promise.all([
          call(api(), 'GET', `/api/messages/${encodeURIComponent(id)}`),
          call(api(), 'GET', `/api/messages/${encodeURIComponent(id)}/preview`),
        ]);
        print({ record, preview });
      }),
    );
  quarantine
    .command('approve <id>')
    .option('--reason <text>', 'why')
    .action(
      run(async (id: string, opts: { reason?: string }) =>
        print(await call(api(), 'POST', `/api/messages/${encodeURIComponent(id)}/approve`, { reason: opts.reason })),
      ),
    );
  quarantine
    .command('release <id>')
    .description('relay it: --as bcc (safe), split, or original (exposes the addresses; approver role)')
    .requiredOption('--as <how>', 'original | bcc | split')
    .action(
      run(async (id: string, opts: { as: string }) => print(await call(api(), 'POST', `/api/messages/${encodeURIComponent(id)}/release`, { as: opts.as }))),
    );
  quarantine
    .command('discard [id]')
    .description('discard one message (ID), or with --sender everything still waiting from that envelope sender (delayed, held, approved, captured)')
    .requiredOption('--reason <text>', 'why (kept in the history)')
    .option('--sender <address>', 'the envelope sender, whole address, any case')
    .action(
      run(async (id: string | undefined, opts: { reason: string; sender?: string }) => {
        if ((id === undefined) === (opts.sender === undefined))
          throw new ApiError('give either a message ID or --sender ADDRESS, not both', QUARANTINE_EXIT.usage);
        if (opts.sender !== undefined) print(await call(api(), 'POST', '/api/senders/discard', { sender: opts.sender, reason: opts.reason }));
        else print(await call(api(), 'POST', `/api/messages/${encodeURIComponent(id!)}/discard`, { reason: opts.reason }));
      }),
    );
  quarantine
    .command('claims')
    .description('release claims whose lease expired: releases that stopped half-way, waiting for an operator')
    .option('--json', 'print them as JSON')
    .action(
      run(async (opts: { json?: boolean }) => {
        const { claims } = (await call(api(), 'GET', '/api/claims/expired')) as { claims: ExpiredClaimRow[] };
        if (opts.json) {
          print({ claims });
          return;
        }
        const rows = claims.map((c) => [c.id, c.status, cell(`${c.holder.host}:${c.holder.pid}`), c.since, c.leaseUntil ?? '-']);
        process.stdout.write(table(['ID', 'STATUS', 'HOLDER', 'SINCE', 'LEASE UNTIL'], rows));
      }),
    );
  quarantine
    .command('retry-claim <id>')
    .description('give an expired claim back (approver role) once you know the message did not leave; it is then sent as usual, never by this command')
    .requiredOption('--reason <text>', 'why (kept in the history and the audit log)')
    .action(
      run(async (id: string, opts: { reason: string }) =>
        print(await call(api(), 'POST', `/api/messages/${encodeURIComponent(id)}/retry-claim`, { reason: opts.reason })),
      ),
    );
}

interface ExpiredClaimRow {
  id: string;
  status: string;
  holder: { host: string; pid: number };
  since: string;
  leaseUntil: string | null;
}
