import type { LoadedConfig } from '../../config/reload-plan.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthFailureLimiter } from '../../smtp/smtp-auth.js';
import type { AdminApiDeps } from '../route-context.js';
import type { Html } from './html.js';
import type { View } from './pages/view.js';
import type { Session, SessionKeeper } from './session.js';

// What ui-plugin.ts hands the console's route modules, in its own file so they
// and the plugin do not import each other.

export interface ReviewerUiDeps extends AdminApiDeps {
  /** admin.sessionSecret; absent: a random key per process (sessions end at restart). */
  readonly sessionSecret?: string | undefined;
  /** Which config runs (hash, load time), shown on the overview. */
  readonly loadedConfig?: () => LoadedConfig;
}

export interface UiContext {
  readonly deps: ReviewerUiDeps;
  readonly sessions: SessionKeeper;
  readonly limiter: AuthFailureLimiter;
  /** The language, session and form token of this request. */
  view(request: FastifyRequest): View;
  /** The signed-in session (the hooks refuse requests without one before a route runs). */
  sessionOf(request: FastifyRequest): Session;
  page(reply: FastifyReply, status: number, body: Html): FastifyReply;
}

export const LANGUAGE_COOKIE = 'mg_lang';
