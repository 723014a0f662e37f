// The ingress with connection slots kept elsewhere (as under workers, where the
// primary answers over IPC): the answer comes later, so a session may end while
// it is asked for; its slot must still come back, a full answer is a 421, and an
// ask that fails (the primary gone) is a 421 too, never an admitted session.

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

type Answer = (release: (() => void) | null | Error) => void;

/** An ingress whose slots are answered by the test: each ask is queued until answered. */
async function start() {
  const asks: Answer[] = [];
  let asked: (() => void) | null = null;
  const closed: string[] = [];
  let sessionClosed: (() => void) | null = null;
  ingress = createIngress(
    parseConfigObject({ smtp: { port: 0 } }).smtp,
    {
      onMessage: async () => ({ code: 250, enhanced: '2.0.0', text: 'ok' }),
      onSessionClosed: (session) => {
        closed.push(session.id);
        sessionClosed?.();
      },
    },
    {
      connections: {
        tryAcquire: () =>
          new Promise((resolve, reject) => {
            asks.push((answer) => (answer instanceof Error ? reject(answer) : resolve(answer)));
            asked?.();
          }),
      },
    },
  );
  const port = await ingress.listen();
  const nextAsk = () => (asks.length ? Promise.resolve() : new Promise<void>((resolve) => (asked = resolve)));
  const nextClose = () => new Promise<void>((resolve) => (sessionClosed = resolve));
  return { port, asks, closed, nextAsk, nextClose };
}

async function connect(port: number): Promise<SmtpLineClient> {
  const c = await SmtpLineClient.connect(port);
  open.push(c);
  return c;
}

describe('ingress with shared connection slots', () => {
  it('admits once the slot is granted and gives it back when the session ends', async () => {
    const { port, asks, nextAsk, nextClose } = await start();
    const c = await connect(port);
    await nextAsk();
    let released = 0;
    asks.shift()!(() => released++);
    expect(await c.reply()).toMatch(/^220 /);
    const ended = nextClose();
    expect(await c.command('QUIT')).toMatch(/^221 /);
    await ended;
    expect(released).toBe(1);
  });

  it('a slot granted after the client hung up goes back at once', async () => {
    const { port, asks, closed, nextAsk, nextClose } = await start();
    const c = await connect(port);
    await nextAsk();
    const ended = nextClose();
    c.close();
    await ended;
    expect(closed).toHaveLength(1);
    const released = new Promise<void>((resolve) => asks.shift()!(resolve));
    await released;
  });

  it('a full answer is 421 4.7.0; an ask that fails is 421 4.3.2', async () => {
    const { port, asks, nextAsk } = await start();
    const full = await connect(port);
    await nextAsk();
    asks.shift()!(null);
    expect(await full.reply()).toBe('421 4.7.0 Too many connections from your address; try again later');
    const failed = await connect(port);
    await nextAsk();
    asks.shift()!(new Error('the primary went away'));
    expect(await failed.reply()).toBe('421 4.3.2 mail-guard is shutting down; try again later');
  });
});
