import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { AuthFailureLimiter } from '../../smtp/smtp-auth.js';
import { answerForError, HttpError } from '../http-answers.js';
import { registerActionRoutes } from './action-routes.js';
import { registerAssetRoutes } from './asset-routes.js';
import { registerAuditPageRoutes } from './audit-page-routes.js';
import { registerBreakerActionRoutes } from './breaker-action-routes.js';
import { registerSenderActionRoutes } from './sender-action-routes.js';
import { registerLoginRoutes } from './login-routes.js';
import { errorPage } from './pages/login.js';
import type { View } from './pages/view.js';
import { registerReadRoutes } from './read-routes.js';
import { registerSummaryRoutes } from './summary-routes.js';
import { createSessionKeeper, SESSION_COOKIE, type Session } from './session.js';
import { chooseLanguage, translator } from './strings.js';
import { LANGUAGE_COOKIE, type ReviewerUiDeps, type UiContext } from './ui-context.js';

export type { ReviewerUiDeps } from './ui-context.js';

/** Every console response (DESIGN.md "Reviewer web UI"): no inline script or style, nothing from elsewhere, never framed. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Routes a signed-out browser may reach. */
const PUBLIC_ROUTES = new Set(['/ui/login', '/ui/lang/:lang', '/ui/assets/:file']);

/**
 * The reviewer console under /ui/ (server-rendered HTML, forms that work
 * without JavaScript), and `GET /` → /ui/. Register it on the admin server
 * next to the API: it calls the same review/ functions the API does.
 */
export function createReviewerUi(deps: ReviewerUiDeps): FastifyPluginAsync {
  return async (app) => {
    app.get('/', async (_request, reply) => reply.redirect('/ui/', 303));
    await app.register(async (ui) => uiScope(ui, deps), { prefix: '/ui' });
  };
}

async function uiScope(ui: FastifyInstance, deps: ReviewerUiDeps): Promise<void> {
  const sessions = createSessionKeeper(() => deps.tokens, deps.sessionSecret);
  const limiter = new AuthFailureLimiter();
  const views = new WeakMap<FastifyRequest, View>();
  const sessionByRequest = new WeakMap<FastifyRequest, Session>();

  await ui.register(fastifyCookie);
  // Only urlencoded forms exist here: JSON, text/plain and multipart are refused (415).
  ui.removeAllContentTypeParsers();
  await ui.register(fastifyFormbody, { bodyLimit: 64 * 1024 });

  const context: UiContext = {
    deps,
    sessions,
    limiter,
    view(request) {
      const view = views.get(request);
      if (view) return view;
      // Requests that failed before onRequest finished (bad body, 404 from the router) still get a page.
      const lang = chooseLanguage(request.cookies?.[LANGUAGE_COOKIE], request.headers['accept-language']);
      return { lang, t: translator(lang), session: null, csrf: null, here: '/ui/' };
    },
    sessionOf(request) {
      const session = sessionByRequest.get(request);
      if (!session) throw new HttpError(401, 'sign in first');
      return session;
    },
    page(reply, status, body) {
      return reply.code(status).type('text/html; charset=utf-8').send(body.value);
    },
  };

  ui.addHook('onRequest', async (request, reply) => {
    void reply
      .header('content-security-policy', CONSOLE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store')
      .header('x-frame-options', 'DENY')
      .header('cross-origin-opener-policy', 'same-origin')
      .header('cross-origin-resource-policy', 'same-origin');
    const lang = chooseLanguage(request.cookies[LANGUAGE_COOKIE], request.headers['accept-language']);
    const session = sessions.read(request.cookies[SESSION_COOKIE]);
    if (session) sessionByRequest.set(request, session);
    const here = request.url.startsWith('/ui/') && request.method === 'GET' ? request.url : '/ui/';
    views.set(request, { lang, t: translator(lang), session, csrf: session ? sessions.csrfToken(session) : null, here });

    if (request.method !== 'GET' && request.method !== 'HEAD') refuseCrossSite(request);
    const route = request.routeOptions.url;
    if (route === undefined || PUBLIC_ROUTES.has(route) || session) return;
    if (request.method === 'GET' || request.method === 'HEAD') return reply.redirect('/ui/login', 303);
    throw new HttpError(401, 'sign in first');
  });

  // After the body is parsed: every state-changing form but the sign-in carries the session's CSRF token.
  ui.addHook('preHandler', async (request) => {
    if (request.method === 'GET' || request.method === 'HEAD' || request.routeOptions.url === '/ui/login') return;
    const session = sessionByRequest.get(request);
    const token = (request.body as Record<string, unknown> | undefined)?.['csrf'];
    if (!session || !sessions.checkCsrf(session, token)) throw new HttpError(403, context.view(request).t('csrfFailed'));
  });

  ui.setErrorHandler(async (err, request, reply) => {
    const answer = answerForError(err);
    if (answer.unexpected) deps.logger.error({ err, method: request.method, url: request.routeOptions.url }, 'console request failed');
    const view = context.view(request);
    return context.page(reply, answer.status, errorPage(view, answer.status, answer.unexpected ? null : answer.body.error));
  });
  ui.setNotFoundHandler(async (request, reply) => context.page(reply, 404, errorPage(context.view(request), 404, null)));

  registerAssetRoutes(ui);
  registerLoginRoutes(ui, context);
  registerReadRoutes(ui, context);
  registerSummaryRoutes(ui, context);
  registerAuditPageRoutes(ui, context);
  registerActionRoutes(ui, context);
  registerBreakerActionRoutes(ui, context);
  registerSenderActionRoutes(ui, context);
}

/**
 * As the API does (api.ts): a browser names the page a POST comes from; another
 * origin is refused. Under Referrer-Policy: no-referrer Chromium sends
 * `Origin: null` even for the console's own forms, so "null" passes only with
 * Sec-Fetch-Site: same-origin (a sandboxed or data: page elsewhere sends
 * cross-site); the CSRF token is checked as well either way.
 */
function refuseCrossSite(request: FastifyRequest): void {
  const site = request.headers['sec-fetch-site'];
  const origin = request.headers.origin === 'null' && site === 'same-origin' ? undefined : request.headers.origin;
  const own = `${request.protocol}://${request.host}`.toLowerCase();
  if (origin !== undefined && origin.toLowerCase() !== own) throw new HttpError(403, 'cross-origin form posts are refused');
  if (origin === undefined && site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, 'cross-site form posts are refused');
}
