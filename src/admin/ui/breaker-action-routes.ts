import type { FastifyInstance } from 'fastify';
import { resetBreaker } from '../../review/breaker.js';
import { breakerIdParam, resetBody } from '../breaker-routes.js';
import type { UiContext } from './ui-context.js';

type IdParams = { Params: { id: string }; Body: unknown };

/**
 * The overview's Reset of a paused sender: the same checks and the same
 * review/ function as POST /api/breakers/:id/reset (audited under the signed-in
 * name); a refusal becomes the error page with the API's status, success goes
 * back to the overview (303).
 */
export function registerBreakerActionRoutes(ui: FastifyInstance, context: UiContext): void {
  const { deps } = context;
  ui.post<IdParams>('/breakers/:id/reset', async (request, reply) => {
    const id = breakerIdParam(request.params.id);
    // The form's fields without the CSRF token (checked already by the plugin's hook).
    const { csrf: _csrf, ...fields } = (request.body ?? {}) as Record<string, unknown>;
    const { reason } = resetBody(fields);
    const actor = context.sessionOf(request).actor;
    await resetBreaker(deps, actor, id, reason);
    deps.logger.info({ breaker: id, actor: actor.name, action: 'breaker-reset', via: 'console' }, 'breaker reset from the console');
    return reply.redirect('/ui/', 303);
  });
}
