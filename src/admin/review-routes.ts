import type { FastifyInstance } from 'fastify';
import type { AdminRouteContext } from './route-context.js';
import { send } from './http-answers.js';
import { approveBody, discardBody, messageId, releaseBody } from './request-input.js';
import { approveMessage, discardMessage, releaseMessage } from '../review/review-actions.js';

type IdParams = { Params: { id: string }; Body: unknown };

/** Review decisions on one message; each lands in the record's history with the token's name. */
export function registerReviewRoutes(api: FastifyInstance, { deps, actorOf }: AdminRouteContext): void {
  const { logger } = deps;

  api.post<IdParams>('/messages/:id/approve', async (request, reply) => {
    const id = messageId(request.params.id);
    const { reason } = approveBody(request.body);
    const actor = actorOf(request);
    const record = await approveMessage(deps, actor, id, reason);
    logger.info({ id, actor: actor.name, action: 'approve' }, 'message approved');
    return send(reply, 200, { id, status: record.status, record });
  });

  api.post<IdParams>('/messages/:id/discard', async (request, reply) => {
    const id = messageId(request.params.id);
    const { reason } = discardBody(request.body);
    const actor = actorOf(request);
    const record = await discardMessage(deps, actor, id, reason);
    logger.info({ id, actor: actor.name, action: 'discard' }, 'message discarded');
    return send(reply, 200, { id, status: record.status, record });
  });

  api.post<IdParams>('/messages/:id/release', async (request, reply) => {
    const id = messageId(request.params.id);
    const { as, reason } = releaseBody(request.body);
    const actor = actorOf(request);
    try {
      const released = await releaseMessage(deps, actor, id, as, reason);
      logger.info({ id, actor: actor.name, action: 'release', as, refused: released.refused.length }, 'message released');
      return send(reply, 200, {
        id,
        status: released.record.status,
        as,
        upstreamReply: released.upstreamReply,
        refused: released.refused,
        record: released.record,
      });
    } catch (err) {
      logger.warn({ id, actor: actor.name, action: 'release', as, err: err instanceof Error ? err.message : String(err) }, 'release refused or failed');
      throw err;
    }
  });
}
