import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import type { MailGuardConfig } from '../config/schema.js';
import { readTlsPair } from '../smtp/smtp-tls.js';

/** A review action's body is a reason and a form; 64 KB is far more than that and far less than a memory problem. */
export const ADMIN_BODY_LIMIT = 64 * 1024;
import type { ReadinessReport } from '../observability/readiness.js';
import type { LoadedConfig } from '../config/reload-plan.js';

export interface AdminServer {
  listen(): Promise<number>;
  close(): Promise<void>;
  /** For tests and in-process callers. */
  readonly http: FastifyInstance;
}

export interface AdminParts {
  /** The review API under /api (bearer tokens). */
  readonly api?: FastifyPluginAsync;
  /** The reviewer console under /ui/ (and GET / → /ui/). */
  readonly ui?: FastifyPluginAsync;
  readonly registry?: Registry;
  readonly readiness?: () => Promise<ReadinessReport>;
  /** Which config runs (src/config/reload-plan.ts), shown by /readyz: it changes on a reload. */
  readonly loadedConfig?: () => LoadedConfig;
}

/**
 * The admin HTTP listener. /healthz, /readyz and /metrics stay open on the
 * admin address on purpose: probes and scrapers carry no token, and none of
 * them shows an address, a subject or an id.
 */
export function createAdminServer(config: MailGuardConfig['admin'], parts: AdminParts = {}): AdminServer {
  const options = { logger: false, forceCloseConnections: true, bodyLimit: ADMIN_BODY_LIMIT } as const;
  // With admin.tls the same routes are served over HTTPS only (the console's cookie is then Secure).
  // Fastify types an HTTPS instance apart; the routes and hooks used here are the same for both.
  const http = config.tls ? (Fastify({ ...options, https: readAdminTls(config.tls) }) as unknown as FastifyInstance) : Fastify(options);
  http.get('/healthz', async () => ({ status: 'ok' }));
  const { readiness, registry, api, ui, loadedConfig } = parts;
  if (readiness) {
    http.get('/readyz', async (_request, reply) => {
      const report = await readiness();
      const config = loadedConfig?.();
      const shown = config ? { config: { hash: config.hash, loadedAt: new Date(config.loadedAt).toISOString() } } : {};
      return reply.code(report.ready ? 200 : 503).send({ status: report.ready ? 'ready' : 'not ready', ...report.checks, ...shown });
    });
  }
  if (registry) {
    http.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  }
  if (api) void http.register(api);
  if (ui) void http.register(ui);
  http.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: `no route for ${request.method} ${request.url.split('?')[0]}` });
  });
  return {
    http,
    listen: async () => {
      await http.listen({ port: config.port, host: config.host });
      const address = http.server.address();
      return typeof address === 'object' && address ? address.port : config.port;
    },
    close: () => http.close(),
  };
}

/** admin.tls → key and certificate, checked to make a TLS context; ConfigError naming the key otherwise. */
export function readAdminTls(tls: NonNullable<MailGuardConfig['admin']['tls']>): { key: Buffer; cert: Buffer } {
  return readTlsPair('admin.tls', tls);
}
