// The CLI's way to a running mail-guard: its admin API, with a bearer token
// (--admin/--token or MAIL_GUARD_ADMIN_URL/MAIL_GUARD_TOKEN). Commands that read
// or change the quarantine go through it, so the CLI needs no store credentials
// and every action is audited under the token's name like a click in the API.

export interface ApiOptions {
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

export class ApiError extends Error {
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

export async function callAdminApi(opts: ApiOptions, method: 'GET' | 'POST', path: string, body?: object): Promise<unknown> {
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

/** Runs a command's action; an ApiError becomes its message on stderr and its exit code. */
export const runApiAction =
  <A extends unknown[]>(action: (...args: A) => Promise<void>) =>
  async (...args: A): Promise<void> => {
    try {
      await action(...args);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      process.stderr.write(`mail-guard: ${err.message}\n`);
      process.exitCode = err.exitCode;
    }
  };

/**
 * Text from a record (a subject, a sender) for a terminal: control characters
 * (ESC sequences could recolour or rewrite the screen, a newline could fake a
 * row) are shown as U+FFFD.
 */
export function cell(text: string | null | undefined): string {
  // eslint-disable-next-line no-control-regex
  return (text ?? '').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '\uFFFD');
}

/** Rows under a header, columns padded to their widest cell; the last column is not padded (it may be long). */
export function table(head: readonly string[], rows: readonly (readonly string[])[], alignRight: ReadonlySet<number> = new Set()): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return (
    [head, ...rows]
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 && !alignRight.has(i) ? c : alignRight.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
