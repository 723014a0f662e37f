import type { FastifyRequest } from 'fastify';
import type { ReviewDeps } from '../review/review-actions.js';
import type { AdminActor, AdminTokenConfig } from './auth.js';
import type { AddressMasker } from '../store/record.js';

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
  /** How the preview shows addresses in the text: as the record does (masked unless log.showAddresses; masked when absent). */
  readonly mask?: AddressMasker;
}

/** What the route modules get: the deps plus who is asking. */
export interface AdminRouteContext {
  readonly deps: AdminApiDeps;
  readonly actorOf: (request: FastifyRequest) => AdminActor;
}
