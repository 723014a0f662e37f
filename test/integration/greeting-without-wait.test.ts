// smtp/greeting-without-wait.ts: allow-listed mailers are greeted at once, everyone
// else keeps smtp-server's 100 ms early-talker wait. Checked through what a client
// sees: a listed client that talks before the greeting is served (with the wait it
// would be told "You talk too soon"), an unlisted one is still told so.

import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigObject } from '../../src/config/load.js';
import { createIngress, type Ingress } from '../../src/smtp/ingress.js';
import { SmtpLineClient } from '../helpers/smtp-client.js';

let ingress: Ingress | undefined;
const open: SmtpLineClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await ingress?.close();
  ingress = undefined;
});

async function start(smtp: Record<string, unknown> = {}): Promise<number> {
  ingress = createIngress(parseConfigObject({ smtp: { port: 0, ...smtp } }).smtp, { onMessage: async () => ({ code: 250, enhanced: '2.0.0', text: 'ok' }) });
  return ingress.listen();
}

async function client(port: number): Promise<SmtpLineClient> {
  const c = await SmtpLineClient.connect(port);
  open.push(c);
  return c;
}

describe('greeting without the early-talker wait', () => {
  it('an allow-listed client that talks before the greeting is greeted and served, not told it talks too soon', async () => {
    const port = await start();
    for (let i = 0; i < 5; i++) {
      const c = await client(port);
      // Written the moment the connection is up: within smtp-server's 100 ms this would get 421.
      c.writeRaw('EHLO early.test\r\nNOOP\r\n');
      expect(await c.reply()).toMatch(/^220 .* ESMTP mail-guard$/);
      expect(await c.reply()).toMatch(/^250 /);
      expect(await c.reply()).toMatch(/^250 2\.0\.0 OK$/);
      c.close();
    }
  });

  it('a client outside allowFrom keeps the wait: talking first gets 421 "You talk too soon" and the connection closes', async () => {
    const port = await start({ allowFrom: ['192.0.2.0/24'] });
    const c = await client(port);
    c.writeRaw('EHLO early.test\r\n');
    expect(await c.reply()).toMatch(/^421 .*You talk too soon$/);
    expect(await c.reply()).toBe('(connection closed)');
  });

  it('a patient client outside allowFrom is refused (554) only after the wait', async () => {
    const port = await start({ allowFrom: ['192.0.2.0/24'] });
    const started = performance.now();
    const c = await client(port);
    expect(await c.reply()).toMatch(/^554 5\.7\.1 /);
    // A lower bound only: a busy machine makes it later, never earlier.
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('past smtp.maxClients a listed client gets 421 4.7.0 on the no-wait path too, and the slot is not lost', async () => {
    const port = await start({ maxClients: 1 });
    const first = await client(port);
    expect(await first.reply()).toMatch(/^220 /);
    const second = await client(port);
    expect(await second.reply()).toBe('421 4.7.0 Too many connected clients, try again in a moment');
    expect(await second.reply()).toBe('(connection closed)');
    expect(await first.command('QUIT')).toMatch(/^221 /);
    expect(await first.reply()).toBe('(connection closed)');
    const third = await client(port);
    expect(await third.reply()).toMatch(/^220 /);
  });
});
