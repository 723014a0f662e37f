import type { FastifyInstance } from 'fastify';
import type { AdminRouteContext } from './route-context.js';
import { send } from './http-answers.js';
import { noParams, reportParams } from './request-input.js';
import { buildOverview } from '../review/overview.js';
import { buildReport } from '../review/report.js';

/** Read-only summaries for reviewers (issue 11): the overview and the rehearsal report. review/ computes both. */
export function registerReportRoutes(api: FastifyInstance, { deps }: AdminRouteContext): void {
  const { store } = deps;
  // No upstream: rehearsal mode, every message was captured with its verdict.
  const rehearsal = deps.relay === null;

  api.get<{ Querystring: Record<string, unknown> }>('/overview', async (request, reply) => {
    noParams(request.query, 'GET /api/overview');
    return send(reply, 200, await buildOverview(store, { rehearsal }));
  });

  api.get<{ Querystring: Record<string, unknown> }>('/report', async (request, reply) => {
    const { since } = reportParams(request.query);
    return send(reply, 200, await buildReport(store, { rehearsal, since }));
  });
}
