import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { MailGuardConfig } from '../config/schema.js';

export interface AdminServer {
  listen(): Promise<number>;
  close(): Promise<void>;
  /** For tests and in-process callers. */
  readonly http: FastifyInstance;
}

/**
 * The admin HTTP listener: liveness here; the review API (bearer tokens) is
 * mounted when given. Health stays open on the admin address on purpose: it
 * reveals nothing and probes carry no token.
 */
export function createAdminServer(config: MailGuardConfig['admin'], api?: FastifyPluginAsync): AdminServer {
  const http = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 64 * 1024 });
  http.get('/healthz', async () => ({ status: 'ok' }));
  if (api) void http.register(api);
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
