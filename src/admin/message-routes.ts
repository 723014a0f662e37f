import type { FastifyInstance } from 'fastify';
import type { AdminRouteContext } from './route-context.js';
import { HttpError, send } from './http-answers.js';
import { rawForReviewer } from '../review/review-actions.js';
import { buildPreview } from './preview.js';
import { listParams, messageId } from './request-input.js';

type IdParams = { Params: { id: string } };

/** Reading the quarantine: list, one record, its .eml (audited), a safe preview. */
export function registerMessageRoutes(api: FastifyInstance, { deps, actorOf }: AdminRouteContext): void {
  const { store } = deps;

  api.get<{ Querystring: Record<string, unknown> }>('/messages', async (request, reply) => {
    const page = await store.list(listParams(request.query)).catch((err: unknown) => {
      // The store refuses a cursor it did not hand out with a RangeError: the client's mistake.
      throw err instanceof RangeError ? new HttpError(400, 'cursor must be the nextCursor of the previous page') : err;
    });
    // A page with fewer than `limit` records and a nextCursor ended at the store's scan bound: page on.
    return send(reply, 200, { records: page.records, nextCursor: page.nextCursor, scanned: page.scanned });
  });

  api.get<IdParams>('/messages/:id', async (request, reply) => {
    const record = await store.get(messageId(request.params.id));
    if (!record) throw new HttpError(404, 'no message with this id');
    return send(reply, 200, record);
  });

  // Audited: review/ writes the download into the history before handing the bytes out.
  api.get<IdParams>('/messages/:id/raw', async (request, reply) => {
    const id = messageId(request.params.id);
    const actor = actorOf(request);
    const raw = await rawForReviewer(store, actor, id);
    deps.logger.info({ id, actor: actor.name, action: 'view-raw' }, 'raw message downloaded');
    return reply
      .code(200)
      .header('content-type', 'message/rfc822')
      .header('content-disposition', `attachment; filename="${id}.eml"`)
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; sandbox")
      .send(raw);
  });

  api.get<IdParams>('/messages/:id/preview', async (request, reply) => {
    const id = messageId(request.params.id);
    const raw = await store.raw(id);
    if (!raw) throw new HttpError(404, 'no message with this id');
    const preview = await buildPreview(raw, deps.mask).catch((err: unknown) => {
      deps.logger.warn({ id, err }, 'preview: message could not be parsed');
      throw new HttpError(422, 'the message could not be parsed for a preview; download the .eml to look at it');
    });
    return send(reply, 200, { id, ...preview });
  });
}
