// Ingress access control (THREATS.md, "Envelope and access"): per-client
// connection cap, per-login sender domains, PROXY protocol only from listed
// peers, and the implicit TLS listener. Raw sockets so the exact replies show.

import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigObject } from '../../src/config/load.js';
import { createIngress, type Ingress } from '../../src/smtp/ingress.js';
import { hashPassword } from '../../src/smtp/password-hash.js';
import { SmtpLineClient } from '../helpers/smtp-client.js';
import { TEST_TLS } from '../helpers/test-tls.js';
import { within } from '../helpers/within.js';

const REPLY = {
  tooMany: /^421 4\.7\.0 Too many connections from your address; try again later$/,
  senderNotAllowed: /^553 5\.7\.1 Sender address not allowed for this login$/,
  notAllowed: /^554 5\.7\.1 /,
} as const;

/** Line-based raw SMTP client; can switch to TLS (STARTTLS) or start in it (implicit TLS). */
/** The shared line client, opened the way these tests need (greeting not yet read). */
class Raw extends SmtpLineClient {
  static async open(port: number, options: { implicitTls?: boolean } = {}): Promise<Raw> {
    return new Raw(await SmtpLineClient.socketTo(port, options.implicitTls ? { implicitTls: { ca: TEST_TLS.ca } } : {}));
  }

  write(data: string): void {
    this.writeRaw(data);
  }

  /** STARTTLS, handshake, EHLO again. */
  override async starttls(): Promise<string> {
    const answer = await super.starttls(TEST_TLS.ca);
    expect(answer).toMatch(/^220 /);
    expect(await this.command('EHLO client.test')).toMatch(/^250 /);
    return answer;
  }
}

const ok = async () => ({ code: 250, enhanced: '2.0.0', text: 'ok' });
let tlsFiles: { key: string; cert: string };
let appHash: string;
const PASSWORD = 'app-secret-1';

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mail-guard-access-'));
  tlsFiles = { key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') };
  await writeFile(tlsFiles.key, TEST_TLS.key);
  await writeFile(tlsFiles.cert, TEST_TLS.cert);
  appHash = await hashPassword(PASSWORD);
});

let ingress: Ingress | undefined;
const open: Raw[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await ingress?.close();
  ingress = undefined;
});

/** Client ports of the sessions the ingress has closed (its onSessionClosed hook), and who waits for one. */
const closedSessions = new Set<number>();
const waitingForClose: Array<() => void> = [];

async function start(smtp: Record<string, unknown>): Promise<number> {
  const config = parseConfigObject({ smtp: { port: 0, ...smtp } }).smtp;
  closedSessions.clear();
  ingress = createIngress(config, {
    onMessage: ok,
    onSessionClosed: (session) => {
      closedSessions.add(session.remotePort);
      for (const wake of waitingForClose.splice(0)) wake();
    },
  });
  return ingress.listen();
}

/** Resolves when the server has closed c's session: from then on its per-client slot is free. */
const serverClosed = (c: Raw): Promise<void> => {
  const port = c.localPort;
  const closed = new Promise<void>((resolve) => {
    const check = () => (closedSessions.has(port) ? resolve() : waitingForClose.push(check));
    check();
  });
  return within(closed, 5_000, 'the server closing the session');
};

async function client(port: number, options?: { implicitTls?: boolean }): Promise<Raw> {
  const c = await Raw.open(port, options);
  open.push(c);
  return c;
}

/** The server hangs up on c (after a refusal). */
const waitClosed = (c: Raw): Promise<void> => within(c.whenClosed(), 5_000, 'the server closing the refused connection');

describe('per-client connection cap', () => {
  it('with cap 2, the third concurrent connection gets 421 4.7.0 and a closed slot is reusable', async () => {
    const port = await start({ maxConnectionsPerClient: 2 });
    const a = await client(port);
    const b = await client(port);
    expect(await a.reply()).toMatch(/^220 /);
    expect(await b.reply()).toMatch(/^220 /);
    const c = await client(port);
    expect(await c.reply()).toMatch(REPLY.tooMany);
    await waitClosed(c);
    // The refused connection took no slot, so still only one more after a close.
    const freed = serverClosed(a);
    a.close();
    await freed;
    const d = await client(port);
    expect(await d.reply()).toMatch(/^220 /);
    const e = await client(port);
    expect(await e.reply()).toMatch(REPLY.tooMany);
    expect(await b.command('NOOP')).toMatch(/^250 /);
  });

  it('refusals do not leak slots: many refused connections later, the cap still admits exactly one', async () => {
    const port = await start({ maxConnectionsPerClient: 1 });
    const holder = await client(port);
    expect(await holder.reply()).toMatch(/^220 /);
    for (let i = 0; i < 5; i++) {
      const refused = await client(port);
      expect(await refused.reply()).toMatch(REPLY.tooMany);
      await waitClosed(refused);
    }
    const freed = serverClosed(holder);
    holder.close();
    await freed;
    const next = await client(port);
    expect(await next.reply()).toMatch(/^220 /);
  });
});

describe('per-client connection cap with STARTTLS', () => {
  // smtp-server's upgrade strips the raw socket's listeners: the slot must still come back.
  const CAP = 3;
  const MESSAGE = 'From: a@example.co.jp\r\nTo: b@example.co.jp\r\nSubject: hi\r\n\r\nhello\r\n.';

  /** Greeting, EHLO, STARTTLS, EHLO: a session ready for a transaction over TLS. */
  const secured = async (port: number): Promise<Raw> => {
    const c = await client(port);
    expect(await c.reply()).toMatch(/^220 /);
    expect(await c.command('EHLO client.test')).toMatch(/^250 /);
    await c.starttls();
    return c;
  };

  /** QUIT, then the server hangs up. */
  const quit = async (c: Raw) => {
    expect(await c.command('QUIT')).toMatch(/^221 /);
    expect(await c.reply()).toBe('(connection closed)');
  };

  it(`gives the slot back: ${3 * CAP} sequential STARTTLS sessions with cap ${CAP} all get 250 for a message`, async () => {
    const port = await start({ tls: tlsFiles, maxConnectionsPerClient: CAP });
    for (let i = 0; i < 3 * CAP; i++) {
      const c = await secured(port);
      expect(await c.command('MAIL FROM:<a@example.co.jp>')).toMatch(/^250 /);
      expect(await c.command('RCPT TO:<b@example.co.jp>')).toMatch(/^250 /);
      expect(await c.command('DATA')).toMatch(/^354 /);
      expect(await c.command(MESSAGE)).toBe('250 2.0.0 ok');
      await quit(c);
    }
  });

  it('a client that drops the connection mid-handshake gives its slot back too', async () => {
    const port = await start({ tls: tlsFiles, maxConnectionsPerClient: 1 });
    for (let i = 0; i < 3; i++) {
      const c = await client(port);
      expect(await c.reply()).toMatch(/^220 /);
      expect(await c.command('EHLO client.test')).toMatch(/^250 /);
      expect(await c.command('STARTTLS')).toMatch(/^220 /);
      // Not a TLS ClientHello: the server's handshake fails and it hangs up.
      c.write('this is not TLS\r\n');
      expect(await c.reply()).toBe('(connection closed)');
    }
    const next = await secured(port);
    await quit(next);
  });

  it(`still caps: after many STARTTLS sessions, ${CAP} concurrent ones are admitted and one more gets 421 4.7.0`, async () => {
    const port = await start({ tls: tlsFiles, maxConnectionsPerClient: CAP });
    for (let i = 0; i < 2 * CAP; i++) await quit(await secured(port));
    // A slot freed twice would let a fourth session in here.
    const held = [];
    for (let i = 0; i < CAP; i++) held.push(await secured(port));
    const extra = await client(port);
    expect(await extra.reply()).toMatch(REPLY.tooMany);
    expect(await extra.reply()).toBe('(connection closed)');
    for (const c of held) expect(await c.command('NOOP')).toMatch(/^250 /);
  });
});

describe('per-login allowed sender domains', () => {
  const users = () => [
    { name: 'app', passwordHash: appHash, allowedSenderDomains: ['example.co.jp', '*.mail.example.com'] },
    { name: 'free', passwordHash: appHash },
  ];
  const login = async (port: number, user: string) => {
    const c = await client(port);
    expect(await c.reply()).toMatch(/^220 /);
    expect(await c.command('EHLO client.test')).toMatch(/^250 /);
    await c.starttls();
    expect(await c.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${PASSWORD}`).toString('base64')}`)).toMatch(/^235 /);
    return c;
  };

  it('refuses MAIL FROM outside the list with 553 5.7.1 and accepts listed domains (exact, subdomain, case)', async () => {
    const port = await start({ tls: tlsFiles, auth: { users: users() } });
    const c = await login(port, 'app');
    expect(await c.command('MAIL FROM:<app@other.example>')).toMatch(REPLY.senderNotAllowed);
    // "*.mail.example.com" covers subdomains only, and look-alikes stay out.
    expect(await c.command('MAIL FROM:<app@mail.example.com>')).toMatch(REPLY.senderNotAllowed);
    expect(await c.command('MAIL FROM:<app@evilexample.co.jp>')).toMatch(REPLY.senderNotAllowed);
    expect(await c.command('MAIL FROM:<>')).toMatch(REPLY.senderNotAllowed);
    expect(await c.command('MAIL FROM:<app@Example.CO.JP>')).toMatch(/^250 /);
    expect(await c.command('RSET')).toMatch(/^250 /);
    expect(await c.command('MAIL FROM:<app@eu.mail.example.com>')).toMatch(/^250 /);
  });

  it('a login without a list, and an anonymous client, may use any sender', async () => {
    const port = await start({ tls: tlsFiles, auth: { users: users() } });
    const free = await login(port, 'free');
    expect(await free.command('MAIL FROM:<x@anything.example>')).toMatch(/^250 /);
    const anon = await client(port);
    expect(await anon.reply()).toMatch(/^220 /);
    expect(await anon.command('EHLO client.test')).toMatch(/^250 /);
    expect(await anon.command('MAIL FROM:<x@anything.example>')).toMatch(/^250 /);
  });

  it('refuses a malformed allowedSenderDomains entry at start-up', () => {
    expect(() => parseConfigObject({ smtp: { auth: { users: [{ name: 'a', passwordHash: appHash, allowedSenderDomains: ['bad domain'] }] } } })).toThrow(
      /smtp\.auth\.users\.0\.allowedSenderDomains\.0|allowedSenderDomains/,
    );
  });
});

describe('PROXY protocol only from listed peers', () => {
  const PROXY_LINE = 'PROXY TCP4 192.0.2.10 127.0.0.1 5555 2525\r\n';

  it('from a listed peer, allowFrom applies to the address in the header', async () => {
    const port = await start({ proxyProtocolFrom: ['127.0.0.1'], allowFrom: ['192.0.2.0/24'] });
    const c = await client(port);
    c.write(PROXY_LINE);
    expect(await c.reply()).toMatch(/^220 /);
    expect(await c.command('EHLO client.test')).toMatch(/^250 /);
  });

  it('from a listed peer, the per-client cap counts the address in the header', async () => {
    const port = await start({ proxyProtocolFrom: ['127.0.0.1'], allowFrom: ['192.0.2.0/24'], maxConnectionsPerClient: 1 });
    const a = await client(port);
    a.write(PROXY_LINE);
    expect(await a.reply()).toMatch(/^220 /);
    const b = await client(port);
    b.write(PROXY_LINE);
    expect(await b.reply()).toMatch(REPLY.tooMany);
    // Another client behind the same proxy has its own slot.
    const other = await client(port);
    other.write('PROXY TCP4 192.0.2.11 127.0.0.1 5556 2525\r\n');
    expect(await other.reply()).toMatch(/^220 /);
  });

  it('from an unlisted peer the PROXY line is no header: the real address is checked (554)', async () => {
    const port = await start({ allowFrom: ['192.0.2.0/24'] });
    const c = await client(port);
    // Not read as a header, so 127.0.0.1 (outside allowFrom) is what gets checked.
    expect(await c.reply()).toMatch(REPLY.notAllowed);
    await waitClosed(c);
  });

  it('from an unlisted peer that is allowed, PROXY is just an unknown command', async () => {
    const port = await start({ proxyProtocolFrom: ['192.0.2.1'] });
    const c = await client(port);
    expect(await c.reply()).toMatch(/^220 /);
    expect(await c.command(PROXY_LINE.trimEnd())).toMatch(/^5\d\d /);
    expect(await c.command('NOOP')).toMatch(/^250 /);
  });

  it('XCLIENT is refused unless the peer is listed in xclientFrom', async () => {
    let port = await start({});
    const c = await client(port);
    expect(await c.reply()).toMatch(/^220 /);
    expect(await c.command('EHLO client.test')).toMatch(/^250 /);
    expect(await c.command('XCLIENT ADDR=127.0.0.2')).toMatch(/^5\d\d /);
    c.close();
    await ingress!.close();
    port = await start({ xclientFrom: ['127.0.0.1'] });
    const listed = await client(port);
    expect(await listed.reply()).toMatch(/^220 /);
    expect(await listed.command('EHLO client.test')).toMatch(/^250 /);
    expect(await listed.command('XCLIENT ADDR=127.0.0.2')).toMatch(/^220 /);
  });
});

describe('implicit TLS listener', () => {
  it('greets over TLS on smtp.tlsPort, and the plain port keeps working', async () => {
    const plainPort = await start({ tls: tlsFiles, tlsPort: 0 });
    const tlsPort = ingress!.tlsPort();
    expect(tlsPort).toBeGreaterThan(0);
    const secure = await client(tlsPort!, { implicitTls: true });
    expect(await secure.reply()).toMatch(/^220 /);
    expect(await secure.command('EHLO client.test')).toMatch(/^250 /);
    expect(await secure.command('MAIL FROM:<a@example.co.jp>')).toMatch(/^250 /);
    const plain = await client(plainPort);
    expect(await plain.reply()).toMatch(/^220 /);
  });

  it('shares the per-client cap with the plain listener', async () => {
    const plainPort = await start({ tls: tlsFiles, tlsPort: 0, maxConnectionsPerClient: 1 });
    const plain = await client(plainPort);
    expect(await plain.reply()).toMatch(/^220 /);
    const secure = await client(ingress!.tlsPort()!, { implicitTls: true });
    expect(await secure.reply()).toMatch(REPLY.tooMany);
  });
});
