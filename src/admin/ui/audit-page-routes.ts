import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { AUDIT_EXPORT_FORMATS, exportAudit, type AuditExportFormat } from '../../review/audit-export.js';
import { MAX_AUDIT_READ } from '../../store/audit-chain.js';
import { AUDIT_DOWNLOAD_TYPES } from '../audit-routes.js';
import { HttpError } from '../http-answers.js';
import { auditPage } from './page-data.js';
import { auditLogPage } from './pages/audit.js';
import type { UiContext } from './ui-context.js';

type Query = { Querystring: Record<string, unknown> };

/** The audit log page and its downloads, through the console session (GET /api/audit needs a bearer token). */
export function registerAuditPageRoutes(ui: FastifyInstance, context: UiContext): void {
  const { store } = context.deps;

  ui.get<Query>('/audit', async (request, reply) => {
    const { before, ...rest } = request.query;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) throw new HttpError(400, `unknown query parameter "${unknown}"; the audit page takes before`);
    if (before !== undefined && (typeof before !== 'string' || !/^\d{1,15}$/.test(before)))
      throw new HttpError(400, 'before must be a whole number (take it from the page links)');
    return context.page(reply, 200, auditLogPage(context.view(request), await auditPage(store.audit, before === undefined ? undefined : Number(before))));
  });

  for (const format of AUDIT_EXPORT_FORMATS) {
    ui.get(`/audit.${format}`, async (_request, reply) => download(format, reply));
  }

  // As GET /api/audit?format=…: the first page is read before the answer starts, so a store that is down is a 503 page.
  async function download(format: AuditExportFormat, reply: Parameters<UiContext['page']>[0]) {
    const first = await store.audit.read({ after: 0, limit: MAX_AUDIT_READ });
    return reply
      .code(200)
      .header('content-type', AUDIT_DOWNLOAD_TYPES[format])
      .header('content-disposition', `attachment; filename="mail-guard-audit.${format}"`)
      .send(Readable.from(exportAudit(store.audit, format, { first })));
  }
}
