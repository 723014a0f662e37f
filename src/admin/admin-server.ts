import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { MailGuardConfig } from '../config/schema.js';
import { listenOn } from '../net/listen.js';

export interface AdminServer {
  listen(): Promise<number>;
  close(): Promise<void>;
}

/** The admin HTTP listener. For now only liveness; metrics, readiness and the review API attach here. */
export function createAdminServer(config: MailGuardConfig['admin']): AdminServer {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no route for ${req.method} ${path}` }) + '\n');
  });
  return {
    listen: () => listenOn(server, config.port, config.host),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
