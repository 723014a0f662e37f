import type { FastifyRequest } from 'fastify';
import type { ReviewDeps } from '../review/review-actions.js';
import type { AdminActor, AdminTokenConfig } from './auth.js';

// What api.ts hands every route module, in its own file so the route modules
// and api.ts do not import each other.

export interface AdminLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AdminApiDeps extends ReviewDeps {
  readonly tokens: readonly AdminTokenConfig[];
  readonly logger: AdminLogger;
}

/** What the route modules get: the deps plus who is asking. */
export interface AdminRouteContext {
  readonly deps: AdminApiDeps;
  readonly actorOf: (request: FastifyRequest) => AdminActor;
}
