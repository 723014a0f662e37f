// The server side of TCP connections accepted in this process, seen through
// Node's 'net.server.socket' diagnostics channel. Tests that run mail-guard
// in-process (start-mail-guard.ts) can wait until it has *read* the bytes they
// wrote, so a message arrives in exactly the pieces a test means, instead of
// pausing between writes and hoping the reads fall the same way.
//
//   const reads = watchServerReads();               // before the client connects
//   await reads.write(clientSocket, firstPart);     // resolves once the server has read all of it
//   reads.stop();

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';

export interface ServerReads {
  /** Writes `data` on the client socket; resolves once the server side (in this process) has read every byte of it. */
  write(client: Socket, data: string | Buffer): Promise<void>;
  stop(): void;
}

export function watchServerReads(): ServerReads {
  /** Server-side sockets by their peer's port: the client's localPort. */
  const accepted = new Map<number, Socket>();
  const onSocket = (message: unknown): void => {
    const { socket } = message as { socket: Socket };
    const port = socket.remotePort;
    if (port === undefined) return;
    accepted.set(port, socket);
    socket.once('close', () => {
      if (accepted.get(port) === socket) accepted.delete(port);
    });
  };
  subscribe('net.server.socket', onSocket);
  return {
    write(client, data) {
      const server = accepted.get(client.localPort!);
      if (!server) return Promise.reject(new Error(`no server-side socket in this process for client port ${client.localPort}`));
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      return new Promise<void>((resolve) => {
        let seen = 0;
        // One more 'data' listener beside the server's own pipe: it sees the same chunks and changes nothing.
        const onData = (chunk: Buffer): void => {
          seen += chunk.length;
          if (seen < bytes.length) return;
          server.off('data', onData);
          resolve();
        };
        server.on('data', onData);
        client.write(bytes);
      });
    },
    stop: () => unsubscribe('net.server.socket', onSocket),
  };
}
