import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { HttpError } from '../http-answers.js';
import { auditUi } from './audit-ui.js';
import { loginPage } from './pages/login.js';
import { SESSION_COOKIE, SESSION_TTL_MS } from './session.js';
import { isLanguage } from './strings.js';
import { LANGUAGE_COOKIE, type UiContext } from './ui-context.js';

const loginBody = z.object({ token: z.string().max(1000) });
/** Where the language switch may send the browser back to: a console path, never another host. */
const BACK = /^\/ui\/[^\\\s]*$/;

/** Sign-in, sign-out, the language switch. */
export function registerLoginRoutes(ui: FastifyInstance, context: UiContext): void {
  const { sessions, limiter, deps } = context;

  ui.get('/login', async (request, reply) => {
    const view = context.view(request);
    if (view.session) return reply.redirect('/ui/', 303);
    return context.page(reply, 200, loginPage(view, null));
  });

  ui.post('/login', async (request, reply) => {
    const view = context.view(request);
    const parsed = loginBody.safeParse(request.body);
    if (!parsed.success) throw new HttpError(400, 'send the form field "token"');
    // As SMTP AUTH does: failures per client address in a window lock it out for a while.
    const client = request.ip;
    if (!(await limiter.begin(client))) return context.page(reply, 429, loginPage(view, view.t('loginLocked')));
    const token = sessions.match(parsed.data.token.trim());
    limiter.end(client, token === null);
    if (!token) {
      deps.logger.warn({ event: 'console_sign_in_failed', client }, 'console sign-in with an unknown token');
      return context.page(reply, 401, loginPage(view, view.t('loginFailed')));
    }
    const { cookie, session } = sessions.issue(token);
    await auditUi(deps, session.actor, 'sign-in', null, `from ${client}`);
    return reply
      .setCookie(SESSION_COOKIE, cookie, {
        httpOnly: true,
        sameSite: 'strict',
        path: '/ui',
        secure: request.protocol === 'https',
        maxAge: Math.floor(SESSION_TTL_MS / 1000),
      })
      .redirect('/ui/', 303);
  });

  ui.post('/logout', async (request, reply) => {
    const session = context.sessionOf(request);
    await auditUi(deps, session.actor, 'sign-out', null, null);
    return reply
      .clearCookie(SESSION_COOKIE, { path: '/ui', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https' })
      .redirect('/ui/login', 303);
  });

  ui.get<{ Params: { lang: string }; Querystring: { back?: unknown } }>('/lang/:lang', async (request, reply) => {
    const lang = request.params.lang;
    if (!isLanguage(lang)) throw new HttpError(404, 'no such language');
    const back = typeof request.query.back === 'string' && BACK.test(request.query.back) && !request.query.back.startsWith('//') ? request.query.back : '/ui/';
    return reply
      .setCookie(LANGUAGE_COOKIE, lang, { path: '/ui', sameSite: 'lax', httpOnly: true, secure: request.protocol === 'https', maxAge: 365 * 24 * 3600 })
      .redirect(back, 303);
  });
}
