// What mail-guard's private overrides of smtp-server rely on (written against 3.21.6).
// When an upgrade changes one of these, this file fails and says which override
// to re-read: src/smtp/greeting-without-wait.ts (SMTPServer#connect, which copies
// SMTPServer#connect and SMTPConnection#init) and src/smtp/ingress-connection.ts
// (the SMTPConnection subclass).

import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { describe, expect, it } from 'vitest';

/** A method's code without comments and with whitespace collapsed. */
const codeOf = (fn: unknown): string =>
  String(fn)
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/[^\n]*/g, '')
    .replace(/\s+/g, ' ')
    .trim();

const method = (proto: object, name: string): ((...args: unknown[]) => unknown) => {
  const fn = (proto as Record<string, unknown>)[name];
  expect(typeof fn, `${name} is gone`).toBe('function');
  return fn as (...args: unknown[]) => unknown;
};

describe('greeting-without-wait.ts: what SMTPServer#connect copies', () => {
  it('SMTPServer#connect is still the five statements it copies (else re-read it and update connect())', () => {
    expect(codeOf(SMTPServer.prototype.connect)).toBe(
      'connect(socket, socketOptions) { let connection = new SMTPConnection(this, socket, socketOptions); this.connections.add(connection); ' +
        "connection.on('error', err => this._onError(err)); connection.on('connect', data => this._onClientConnect(data)); connection.init(); }",
    );
  });

  it('SMTPConnection#init still only sets the listeners, checks maxClients and waits 100 ms before connectionReady()', () => {
    expect(codeOf(SMTPConnection.prototype.init)).toBe(
      'init() { this._setListeners(() => { if (this._server.options.maxClients && this._server.connections.size > this._server.options.maxClients) { ' +
        "return this.send(421, this.name + ' Too many connected clients, try again in a moment', false); } " +
        'let readyTimer = setTimeout(() => this.connectionReady(), 100); readyTimer.unref(); }); }',
    );
  });

  it('the methods connect() calls instead are there, with the arity it calls them with', () => {
    expect(method(SMTPConnection.prototype, '_setListeners').length).toBe(1);
    expect(method(SMTPConnection.prototype, 'connectionReady').length).toBe(1);
    expect(method(SMTPServer.prototype, '_onError').length).toBe(1);
    expect(method(SMTPServer.prototype, '_onClientConnect').length).toBe(1);
    // _setListeners must still call back once the listeners are set (init() puts the wait in that callback).
    expect(codeOf(SMTPConnection.prototype._setListeners)).toMatch(/return callback\(\);/);
  });
});

describe('ingress-connection.ts: what the SMTPConnection subclass overrides', () => {
  const proto = SMTPConnection.prototype;

  it('every overridden method is still there with the same parameters', () => {
    expect(method(proto, 'send').length).toBe(3);
    expect(method(proto, 'handler_EHLO').length).toBe(2);
    expect(method(proto, 'handler_AUTH').length).toBe(2);
    expect(method(proto, '_resetSession').length).toBe(0);
    expect(method(proto, '_createParser').length).toBe(0);
  });

  it("commands are still looked up on the instance, so the subclass's handlers are the ones that run", () => {
    expect(codeOf(proto._getHandler)).toBe("_getHandler(command) { return this['handler_' + command]; }");
  });

  it('EHLO still answers with one send(250, [lines]) whose AUTH line starts with "AUTH"', () => {
    const ehlo = codeOf(proto.handler_EHLO);
    expect(ehlo).toContain("features.push(['AUTH'].concat(this._server.options.authMethods).join(' '));");
    expect(ehlo).toContain('this.send(250, [formattedResponse].concat(features || []), false);');
  });

  it('send() still takes the enhanced-code context as its third argument, false for none', () => {
    expect(codeOf(proto.send)).toContain('let enhancedCode = this._getEnhancedStatusCode(code, context);');
    expect(codeOf(proto._getEnhancedStatusCode)).toMatch(/^_getEnhancedStatusCode\(code, context\) \{ if \(context === false \|\| /);
  });

  it('send() still writes each reply with one _socket.write, close() still ends the socket (flushing what send() corked), STARTTLS still answers 220 right before the upgrade', () => {
    const send = codeOf(proto.send);
    expect(send.match(/this\._socket\.write\(/g)).toHaveLength(1);
    expect(send).toContain("this._socket.write(payload + '\\r\\n');");
    expect(send).not.toContain('destroy(');
    const close = codeOf(proto.close);
    expect(close).toMatch(/^close\(\) \{ if \(!this\._socket\.destroyed && this\._socket\.writable\) \{ this\._socket\.end\(\); \}/);
    expect(codeOf(proto.handler_STARTTLS)).toContain("this.send(220, 'Ready to start TLS'); this.upgrade(callback);");
  });

  it('the base constructor builds its parser through _createParser() and does not reset the session', () => {
    const whole = codeOf(SMTPConnection);
    const constructor = whole.slice(whole.indexOf('constructor('), whole.indexOf(' init() {'));
    expect(constructor).toMatch(/^constructor\(server, socket, options\) \{/);
    expect(constructor).toContain('this._parser = this._createParser();');
    expect(constructor).not.toContain('this._resetSession()');
  });

  it('SMTPStream still keeps the continuation after DATA in _continueCallback and runs it from continue()', () => {
    const parser = new SMTPStream();
    expect(parser._continueCallback).toBe(false);
    expect(method(SMTPStream.prototype, 'continue').length).toBe(0);
    expect(codeOf(SMTPStream.prototype.continue)).toContain('this._continueCallback();');
    expect(codeOf(SMTPStream.prototype._endDataMode)).toContain('this._continueCallback = () =>');
  });
});
