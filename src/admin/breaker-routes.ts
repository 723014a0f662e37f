import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { listBreakers, resetBreaker } from '../review/breaker.js';
import { isBreakerId } from '../store/breaker-common.js';
import type { BreakerRecord } from '../store/message-store.js';
import { HttpError, send } from './http-answers.js';
import { noParams } from './request-input.js';
import type { AdminRouteContext } from './route-context.js';

// Open breakers (policy.breaker) and their reset. A breaker id is a hash of
// the sender (GET /api/breakers gives it), so no address travels in a URL.

const MAX_REASON_CHARS = 1000;

const resetBodySchema = z.strictObject(
  {
    reason: z
      .string({ error: '"reason" must be a string' })
      .trim()
      .max(MAX_REASON_CHARS, { error: `"reason" is longer than ${MAX_REASON_CHARS} characters` })
      .nullish()
      .transform((reason) => (reason ? reason : null)),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field "${String(issue.keys[0])}"; a reset takes "reason"` : undefined) },
);

export function breakerIdParam(value: string): string {
  if (!isBreakerId(value)) throw new HttpError(400, 'a breaker id is 24 lower-case hex digits, as GET /api/breakers lists them');
  return value;
}

export function resetBody(body: unknown): { readonly reason: string | null } {
  if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
    throw new HttpError(400, 'the request body must be a JSON object');
  }
  const result = resetBodySchema.safeParse(body ?? {});
  if (!result.success) throw new HttpError(400, result.error.issues[0]?.message ?? 'the request is not valid');
  return result.data;
}

/** What the API shows of a breaker: every field the store keeps. */
function shown(breaker: BreakerRecord) {
  const { id, sender, openedAt, violations, windowSeconds, action } = breaker;
  return { id, sender, openedAt, violations, windowSeconds, action };
}

export function registerBreakerRoutes(api: FastifyInstance, { deps, actorOf }: AdminRouteContext): void {
  const { logger } = deps;

  api.get<{ Querystring: Record<string, unknown> }>('/breakers', async (request, reply) => {
    noParams(request.query, 'GET /api/breakers');
    return send(reply, 200, { breakers: (await listBreakers(deps.store)).map(shown) });
  });

  api.post<{ Params: { id: string }; Body: unknown }>('/breakers/:id/reset', async (request, reply) => {
    const id = breakerIdParam(request.params.id);
    const { reason } = resetBody(request.body);
    const actor = actorOf(request);
    const reset = await resetBreaker(deps, actor, id, reason);
    logger.info({ breaker: id, actor: actor.name, action: 'breaker-reset' }, 'breaker reset');
    return send(reply, 200, { reset: shown(reset) });
  });
}
