// The one override of SMTPServer itself: connect() greets listed clients without the
// early-talker wait.
//
// smtp-server 3.21.6 starts every connection in SMTPServer#connect (smtp-server.js):
//
//     connect(socket, socketOptions) {
//         let connection = new SMTPConnection(this, socket, socketOptions);
//         this.connections.add(connection);
//         connection.on('error', err => this._onError(err));
//         connection.on('connect', data => this._onClientConnect(data));
//         connection.init();
//     }
//
// and SMTPConnection#init (smtp-connection.js) holds each one before the greeting:
//
//     init() {
//         this._setListeners(() => {
//             if (this._server.options.maxClients && this._server.connections.size > this._server.options.maxClients) {
//                 return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
//             }
//             let readyTimer = setTimeout(() => this.connectionReady(), 100);
//             readyTimer.unref();
//         });
//     }
//
// The 100 ms catch clients that talk before the greeting ("421 You talk too soon").
// No option turns it off, and for a mailer that opens one connection per message it
// caps throughput at about ten messages a second per connection. So connect() below
// does what both do, with the connection class the caller picks, and for a client
// `greetAtOnce` accepts it calls connectionReady() at once instead of after 100 ms.
// Every other client goes through init() unchanged and keeps the wait. The maxClients
// refusal answers as mail-guard's own replies do, with an enhanced code, and a
// socket that is already closed gets no session at all (see connect()).
//
// test/unit/smtp/smtp-server-internals.test.ts fails when an smtp-server upgrade
// changes what this copies; test/integration/greeting-without-wait.test.ts checks the
// greeting comes at once for listed clients and that others still get the wait.

import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';

export type CreateConnection = (server: SMTPServer, socket: Socket, options: SMTPConnectionOptions | null | undefined) => SMTPConnection;

export class GreetingWithoutWaitServer extends SMTPServer {
  constructor(
    options: SMTPServerOptions,
    /** True for a client to greet at once (its remote address, the PROXY header's when proxied). */
    private readonly greetAtOnce: (remoteAddress: string) => boolean,
    private readonly createConnection: CreateConnection = (server, socket, socketOptions) => new SMTPConnection(server, socket, socketOptions),
  ) {
    super(options);
  }

  override connect(socket: Socket, socketOptions?: SMTPConnectionOptions | null): void {
    // A socket that closed while smtp-server set it up never emits 'close' again: a
    // session for it would never end (smtp-server would keep it in `connections`,
    // and onClose would never give back what onConnect took). Nobody is left to greet.
    if (socket.destroyed && socket.closed) return;
    const connection = this.createConnection(this, socket, socketOptions);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data: Parameters<SMTPServer['_onClientConnect']>[0]) => this._onClientConnect(data));
    if (!this.greetAtOnce(connection.remoteAddress)) {
      connection.init();
      return;
    }
    connection._setListeners(() => {
      if (this.options.maxClients && this.connections.size > this.options.maxClients) {
        connection.send(421, '4.7.0 Too many connected clients, try again in a moment', false);
        return;
      }
      connection.connectionReady();
    });
  }
}
