import type { FastifyInstance } from 'fastify';
import type { AdminRouteContext } from './route-context.js';
import { send } from './http-answers.js';
import { discardBody, messageId, noParams } from './request-input.js';
import { listExpiredClaims, retryClaim } from '../review/claims.js';

type IdParams = { Params: { id: string }; Body: unknown };

/**
 * Stuck releases (review/claims.ts): the claims whose lease expired, and
 * giving one back once a person knows the message did not leave. Giving back
 * never sends anything by itself.
 */
export function registerClaimRoutes(api: FastifyInstance, { deps, actorOf }: AdminRouteContext): void {
  const { store, logger } = deps;

  api.get('/claims/expired', async (request, reply) => {
    noParams(request.query, 'GET /api/claims/expired');
    return send(reply, 200, { claims: await listExpiredClaims(store) });
  });

  api.post<IdParams>('/messages/:id/retry-claim', async (request, reply) => {
    const id = messageId(request.params.id);
    // The same body as a discard: a reason is required, it goes into the history and the audit log.
    const { reason } = discardBody(request.body, 'giving a claim back');
    const actor = actorOf(request);
    const record = await retryClaim(store, actor, id, reason);
    logger.info({ id, actor: actor.name, action: 'retry-claim' }, 'release claim given back');
    return send(reply, 200, { id, status: record.status, record });
  });
}
