import type { FastifyInstance } from 'fastify';
import { reportParams } from '../request-input.js';
import { reportData } from './page-data.js';
import { reportPage } from './pages/report.js';
import type { UiContext } from './ui-context.js';

type Query = { Querystring: Record<string, unknown> };

/** The rehearsal report page, checked and computed as GET /api/report is. */
export function registerSummaryRoutes(ui: FastifyInstance, context: UiContext): void {
  const { deps } = context;
  // No upstream: rehearsal mode, every message was captured with its verdict.
  const rehearsal = deps.relay === null;

  ui.get<Query>('/report', async (request, reply) => {
    // The form sends an empty field for "everything": the same as leaving it out.
    const { since: given, ...rest } = request.query;
    const query = given === '' ? rest : request.query;
    const { since } = reportParams(query);
    const shown = typeof given === 'string' ? given : '';
    return context.page(reply, 200, reportPage(context.view(request), await reportData(deps.store, rehearsal, since), shown));
  });
}
