// The replies of one tick leave in one socket write (src/smtp/ingress-connection.ts):
// a mailer that pipelines MAIL, RCPT and DATA gets its three replies in one
// segment, in order, and nothing is held past the tick. Counted on the server
// side of the connection (in this process) through Node's 'net.server.socket'
// diagnostics channel: every write that reaches the socket's handle is one
// _writeGeneric call (a write, or a writev of what was corked).
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';
import { TestSmtpClient } from '../helpers/smtp-client.js';
import { startMailGuard } from '../helpers/start-mail-guard.js';
import { TEST_TLS } from '../helpers/test-tls.js';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

/** Counts the writes of the server-side sockets accepted from now on, by the client's port. */
function countServerWrites() {
  const writes = new Map<number, string[]>();
  const onSocket = (message: unknown): void => {
    const socket = (message as { socket: Socket & { _writeGeneric: (writev: boolean, data: unknown, ...rest: unknown[]) => unknown } }).socket;
    const port = socket.remotePort!;
    const seen: string[] = [];
    writes.set(port, seen);
    const original = socket._writeGeneric.bind(socket);
    socket._writeGeneric = (writev, data, ...rest) => {
      const chunks = writev ? (data as Array<{ chunk: Buffer | string }>).map((d) => String(d.chunk)) : [String(data)];
      seen.push(chunks.join(''));
      return original(writev, data, ...rest);
    };
  };
  subscribe('net.server.socket', onSocket);
  stops.push(async () => void unsubscribe('net.server.socket', onSocket));
  const portOf = (client: TestSmtpClient | Socket) => ('localPort' in client ? client : (client as unknown as { socket: Socket }).socket).localPort!;
  return { of: (client: TestSmtpClient | Socket) => writes.get(portOf(client)) ?? [] };
}

async function relaying(smtp: Record<string, unknown> = {}) {
  const upstream = await startRecordingUpstream();
  stops.push(() => upstream.close());
  const guard = await startMailGuard({ smtp, upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false }, internalDomains: ['example.co.jp'] });
  stops.push(() => guard.stop());
  return { upstream, guard };
}

describe('replies of one tick in one write', () => {
  it('MAIL, RCPT and DATA pipelined in one segment: 250, 250, 354 in one write, in order; the message is relayed', async () => {
    const { upstream, guard } = await relaying();
    const writes = countServerWrites();
    const { client } = await TestSmtpClient.open(guard.smtpPort);
    await client.command('EHLO mailer.test');
    const before = writes.of(client).length;
    client.writeRaw('MAIL FROM:<app@example.co.jp>\r\nRCPT TO:<a@ext.com>\r\nDATA\r\n');
    expect([await client.reply(), await client.reply(), await client.reply()].map((r) => r.slice(0, 3))).toEqual(['250', '250', '354']);
    const envelopeWrites = writes.of(client).slice(before);
    expect(envelopeWrites).toHaveLength(1);
    expect(envelopeWrites[0]).toMatch(/^250 [^\r]*\r\n250 [^\r]*\r\n354 [^\r]*\r\n$/);

    client.writeRaw(crlf('From: app@example.co.jp', 'To: a@ext.com', '', 'one', '') + '.\r\n');
    expect(await client.reply()).toMatch(/^250 2\.0\.0 /);
    expect(writes.of(client).slice(before + 1)).toHaveLength(1);
    await client.quit();
    expect(upstream.messages).toHaveLength(1);
  });

  it('commands one at a time: each reply is written as soon as it is given (one write each, nothing waits for the next command)', async () => {
    const { guard } = await relaying();
    const writes = countServerWrites();
    const { client } = await TestSmtpClient.open(guard.smtpPort);
    await client.command('EHLO mailer.test');
    const before = writes.of(client).length;
    expect(await client.command('MAIL FROM:<app@example.co.jp>')).toMatch(/^250 /);
    expect(await client.command('RCPT TO:<a@ext.com>')).toMatch(/^250 /);
    expect(await client.command('RSET')).toMatch(/^250 /);
    expect(writes.of(client).slice(before)).toHaveLength(3);
    await client.quit();
  });

  it('EHLO and STARTTLS in one segment: the 250 and the 220 reach the wire before the TLS handshake, and TLS works', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mail-guard-coalesce-'));
    const files = { key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') };
    await writeFile(files.key, TEST_TLS.key);
    await writeFile(files.cert, TEST_TLS.cert);
    const { guard } = await relaying({ tls: files });
    const writes = countServerWrites();
    const plain = connect({ host: '127.0.0.1', port: guard.smtpPort });
    stops.push(async () => void plain.destroy());
    let text = '';
    const until = (pattern: RegExp) =>
      new Promise<void>((resolve) => {
        const check = () => (pattern.test(text) ? (plain.off('data', onData), resolve()) : undefined);
        const onData = (chunk: Buffer) => {
          text += chunk.toString('latin1');
          check();
        };
        plain.on('data', onData);
        check();
      });
    await until(/^220 [^\r]*\r\n/);
    plain.write('EHLO mailer.test\r\nSTARTTLS\r\n');
    await until(/\r\n250 [^\r]*\r\n220 [^\r]*\r\n$/);
    // Both plaintext replies were on the wire before anything of TLS.
    expect(writes.of(plain).join('')).toMatch(/^220 [^\r]*\r\n(250-[^\r]*\r\n)*250 [^\r]*\r\n220 [^\r]*\r\n$/);
    const secure = tlsConnect({ socket: plain, ca: TEST_TLS.ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    const reply = new Promise<string>((resolve) => secure.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
    secure.write('EHLO mailer.test\r\n');
    expect(await reply).toMatch(/^250[- ]/);
    secure.destroy();
  });
});
