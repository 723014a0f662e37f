// A TCP port on 127.0.0.1 that nothing listens on (it was free a moment ago):
// for "connection refused" tests.

import net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === 'string') reject(new Error('freePort: no port'));
        else resolve(address.port);
      });
    });
  });
}
