import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AdminRouteContext } from './route-context.js';
import { HttpError, send } from './http-answers.js';
import { AUDIT_EXPORT_FORMATS, exportAudit } from '../review/audit-export.js';
import type { ReviewerRole } from '../review/lifecycle.js';
import { MAX_AUDIT_READ } from '../store/audit-chain.js';

// GET /api/audit (DESIGN.md "Audit log"): the hash-chained audit log.
//   ?after=&limit=         JSON {entries, next}: oldest first, `next` is the
//                          `after` of the next page, null at the end
//   ?format=jsonl|csv      the whole log after `after` as a download, streamed
// Reading it is not itself audited.

/** Both roles there are may read the log; a role added later is not let in by default. */
const AUDIT_READERS: ReadonlySet<ReviewerRole> = new Set(['reviewer', 'approver']);
const MAX_PAGE = 500;
const DEFAULT_PAGE = 100;

const once = (key: string) => z.string({ error: `give ${key} once` });

const auditQuery = z
  .strictObject(
    {
      format: once('format')
        .pipe(z.enum(['json', ...AUDIT_EXPORT_FORMATS], { error: 'format must be json, jsonl or csv' }))
        .default('json'),
      after: once('after')
        .regex(/^\d{1,15}$/, { error: 'after must be a whole number: the seq of the last entry already read (0 for the start)' })
        .transform(Number)
        .default(0),
      limit: once('limit')
        .regex(/^\d{1,4}$/, { error: `limit must be a whole number from 1 to ${MAX_PAGE}` })
        .transform(Number)
        .pipe(
          z
            .number()
            .min(1, { error: `limit must be a whole number from 1 to ${MAX_PAGE}` })
            .max(MAX_PAGE, { error: `limit must be a whole number from 1 to ${MAX_PAGE}` }),
        )
        .optional(),
    },
    { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown query parameter "${issue.keys[0]}"; use format, after or limit` : undefined) },
  )
  .refine((q) => q.format === 'json' || q.limit === undefined, {
    error: 'limit pages the JSON answer; format=jsonl and format=csv export everything after `after`',
  });

function auditParams(query: unknown): z.output<typeof auditQuery> {
  const result = auditQuery.safeParse(query ?? {});
  if (!result.success) throw new HttpError(400, result.error.issues[0]?.message ?? 'the request is not valid');
  return result.data;
}

/** The downloads' content types (the console's /ui/audit.jsonl and .csv send the same). */
export const AUDIT_DOWNLOAD_TYPES = { jsonl: 'application/x-ndjson; charset=utf-8', csv: 'text/csv; charset=utf-8; header=present' } as const;

export function registerAuditRoutes(api: FastifyInstance, { deps, actorOf }: AdminRouteContext): void {
  const { store } = deps;

  api.get<{ Querystring: Record<string, unknown> }>('/audit', async (request, reply) => {
    if (!AUDIT_READERS.has(actorOf(request).role)) throw new HttpError(403, 'this token may not read the audit log');
    const { format, after, limit = DEFAULT_PAGE } = auditParams(request.query);
    if (format === 'json') {
      // One more than asked: whether there is a next page, without an empty last one.
      const page = await store.audit.read({ after, limit: limit + 1 });
      const entries = page.slice(0, limit);
      return send(reply, 200, { entries, next: page.length > limit ? after + entries.length : null });
    }
    // The first page is read before the answer starts, so a store that is down
    // is a 503. A failure later cuts the download off without its final chunk,
    // which clients report as an error (curl: exit 18). A JSONL cut short
    // would verify as a shorter chain: only an anchor (--expect-last) tells.
    const first = await store.audit.read({ after, limit: MAX_AUDIT_READ });
    return reply
      .code(200)
      .header('content-type', AUDIT_DOWNLOAD_TYPES[format])
      .header('content-disposition', `attachment; filename="mail-guard-audit.${format}"`)
      .send(Readable.from(exportAudit(store.audit, format, { after, first })));
  });
}
