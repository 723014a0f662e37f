import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { bearerChallenge, createTokenVerifier, type AdminActor } from './auth.js';
import { registerAuditRoutes } from './audit-routes.js';
import { registerBreakerRoutes } from './breaker-routes.js';
import { registerCampaignRoutes } from './campaign-routes.js';
import { ADMIN_BODY_LIMIT } from './admin-server.js';
import { answerForError, HttpError } from './http-answers.js';
import { registerMessageRoutes } from './message-routes.js';
import { registerReportRoutes } from './report-routes.js';
import { registerReviewRoutes } from './review-routes.js';
import { registerClaimRoutes } from './claim-routes.js';
import { registerSenderRoutes } from './sender-routes.js';
import type { AdminApiDeps, AdminRouteContext } from './route-context.js';

export type { AdminApiDeps, AdminLogger } from './route-context.js';

/**
 * The review API under /api (DESIGN.md "Admin HTTP"). Register it on the admin
 * server's Fastify instance next to /healthz and /metrics, which stay open:
 *
 *   await app.register(createAdminApi(deps));
 *
 * Inside: every request needs a bearer token; requests from a foreign browser
 * origin are refused (403) and POST bodies must be application/json (415) — a
 * cross-site form cannot send JSON without a CORS preflight, which this API
 * never answers — so another site cannot make a reviewer's browser act.
 */
export function createAdminApi(deps: AdminApiDeps): FastifyPluginAsync {
  return async (app) => {
    await app.register(async (api) => apiScope(api, deps), { prefix: '/api' });
  };
}

/**
 * fastify types getDefaultJsonParser() as either parser form (callback, or
 * promise-returning); the default JSON parser is the callback form
 * (lib/content-type-parser.js) and returns nothing, so there is nothing to await.
 */
type CallbackJsonParser = (request: FastifyRequest, body: string, done: (err: Error | null, value?: unknown) => void) => void;

async function apiScope(api: FastifyInstance, deps: AdminApiDeps): Promise<void> {
  const verify = createTokenVerifier(() => deps.tokens);
  // Request → actor, without widening FastifyRequest's type for the whole program.
  const actors = new WeakMap<FastifyRequest, AdminActor>();

  // Only JSON bodies exist in this scope (content-type parsers are scoped to it).
  const jsonParser = api.getDefaultJsonParser('error', 'error') as CallbackJsonParser;
  api.removeAllContentTypeParsers();
  api.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: ADMIN_BODY_LIMIT }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    // `POST /approve` with no reason is fine with an empty body.
    if (text.trim() === '') return done(null, {});
    jsonParser(request, text, (err, value) => {
      if (err) return done(Object.assign(new Error(`the request body is not valid JSON: ${err.message}`), { statusCode: 400 }), undefined);
      done(null, value);
    });
  });

  api.addHook('onRequest', async (request, reply) => {
    void reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');

    // Cross-site: browsers send Origin on cross-origin requests and on every POST,
    // and Sec-Fetch-Site where they support it. Non-browser clients send neither.
    const origin = request.headers.origin;
    if (origin !== undefined) {
      const own = `${request.protocol}://${request.host}`.toLowerCase();
      if (origin.toLowerCase() !== own) {
        throw new HttpError(403, 'cross-origin requests are refused; use the reviewer UI on the admin address or the mail-guard CLI');
      }
    }
    const site = request.headers['sec-fetch-site'];
    if (origin === undefined && site !== undefined && site !== 'same-origin' && site !== 'none') {
      throw new HttpError(403, 'cross-site requests are refused; use the reviewer UI on the admin address or the mail-guard CLI');
    }

    const auth = verify(request.headers.authorization);
    if (!auth.ok) {
      void reply.header('www-authenticate', bearerChallenge(auth.reason));
      throw new HttpError(401, auth.reason === 'missing' ? 'send Authorization: Bearer <token>' : 'the bearer token is not valid');
    }
    actors.set(request, auth.actor);

    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') throw new HttpError(415, 'send the request body as JSON with Content-Type: application/json');
    }
  });

  api.setErrorHandler(async (err, request, reply) => {
    const answer = answerForError(err);
    if (answer.unexpected) deps.logger.error({ err, method: request.method, url: request.routeOptions.url }, 'admin API request failed');
    return reply.code(answer.status).type('application/json').send(answer.body);
  });
  api.setNotFoundHandler(async (request, reply) => reply.code(404).send({ error: `no API endpoint ${request.method} ${request.url.split('?')[0]}` }));

  const context: AdminRouteContext = {
    deps,
    actorOf(request) {
      const actor = actors.get(request);
      // Unreachable: onRequest refuses every request without an actor.
      if (!actor) throw new HttpError(401, 'send Authorization: Bearer <token>');
      return actor;
    },
  };
  registerMessageRoutes(api, context);
  registerReviewRoutes(api, context);
  registerCampaignRoutes(api, context);
  registerAuditRoutes(api, context);
  registerReportRoutes(api, context);
  registerBreakerRoutes(api, context);
  registerClaimRoutes(api, context);
  registerSenderRoutes(api, context);
}
