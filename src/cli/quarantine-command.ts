import type { Command } from 'commander';

// `mail-guard quarantine …` talks to a running mail-guard through its admin
// API, so the CLI needs no store credentials and every action is audited
// under the token's name exactly like a click in the API.

interface ApiOptions {
  admin?: string;
  token?: string;
}

/**
 * Exit codes, from the API's answer (admin/http-answers.ts maps review/'s
 * refusals to those statuses): 0 done; 1 refused, nothing changed (4xx: wrong
 * status, four-eyes, not found, bad input); 2 usage, no token, API unreachable;
 * 3 failed on the way (5xx: the upstream did not take it, the store is down),
 * worth a retry or a look at the log.
 */
export const QUARANTINE_EXIT = { refused: 1, usage: 2, failed: 3 } as const;

class ApiError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function target(opts: ApiOptions): { base: string; token: string } {
  const base = opts.admin ?? process.env['MAIL_GUARD_ADMIN_URL'] ?? 'http://127.0.0.1:9025';
  const token = opts.token ?? process.env['MAIL_GUARD_TOKEN'];
  if (!token) throw new ApiError('no token: pass --token or set MAIL_GUARD_TOKEN', QUARANTINE_EXIT.usage);
  return { base: base.replace(/\/+$/, ''), token };
}

/**
 * fetch() rejects with "fetch failed" and the reason in `cause`. When the name
 * has several addresses (localhost: ::1 and 127.0.0.1) and every one refuses,
 * the cause is an AggregateError with an empty message: its code says it.
 */
function fetchFailure(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error) return cause.message || ((cause as NodeJS.ErrnoException).code ?? cause.name);
  return err instanceof Error ? err.message : String(err);
}

async function call(opts: ApiOptions, method: 'GET' | 'POST', path: string, body?: object): Promise<unknown> {
  const { base, token } = target(opts);
  let response: Response;
  try {
    response = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new ApiError(`cannot reach the admin API at ${base}: ${fetchFailure(err)}`, QUARANTINE_EXIT.usage);
  }
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: shown as it is
  }
  if (!response.ok) {
    const message = typeof parsed === 'object' && parsed && 'error' in parsed ? String(parsed.error) : text;
    throw new ApiError(`${response.status}: ${message}`, response.status >= 500 ? QUARANTINE_EXIT.failed : QUARANTINE_EXIT.refused);
  }
  return parsed;
}

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
}

function listTable(records: ListedRecord[]): string {
  const rows = records.map((r) => [
    r.id,
    r.receivedAt.replace('T', ' ').slice(0, 19),
    r.status,
    String(r.analysis?.exposedExternalCount ?? '-'),
    String(r.envelope.rcptTo.length),
    r.subject ?? '',
  ]);
  const head = ['ID', 'RECEIVED', 'STATUS', 'EXPOSED', 'RCPTS', 'SUBJECT'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function registerQuarantineCommands(program: Command): void {
  const quarantine = program
    .command('quarantine')
    .description('review held and captured mail through the admin API (--admin/--token or MAIL_GUARD_ADMIN_URL/MAIL_GUARD_TOKEN)')
    .option('--admin <url>', 'admin API base URL (default $MAIL_GUARD_ADMIN_URL or http://127.0.0.1:9025)')
    .option('--token <token>', 'bearer token (default $MAIL_GUARD_TOKEN)');
  const api = (): ApiOptions => quarantine.opts<ApiOptions>();
  const run =
    <A extends unknown[]>(action: (...args: A) => Promise<void>) =>
    async (...args: A) => {
      try {
        await action(...args);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        process.stderr.write(`mail-guard: ${err.message}\n`);
        process.exitCode = err.exitCode;
      }
    };

  quarantine
    .command('list')
    .description('records, newest first')
    .option('--status <status>', 'held | approved | released | discarded | captured | failed')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(
      run(async (opts: { status?: string; limit: string; json?: boolean }) => {
        const query = new URLSearchParams({ limit: opts.limit, ...(opts.status ? { status: opts.status } : {}) });
        const page = (await call(api(), 'GET', `/api/messages?${query.toString()}`)) as { records: ListedRecord[] };
        process.stdout.write(opts.json ? JSON.stringify(page, null, 2) + '\n' : listTable(page.records));
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
    .command('discard <id>')
    .requiredOption('--reason <text>', 'why (kept in the history)')
    .action(
      run(async (id: string, opts: { reason: string }) =>
        print(await call(api(), 'POST', `/api/messages/${encodeURIComponent(id)}/discard`, { reason: opts.reason })),
      ),
    );
}
