// SMTP AUTH on the ingress (THREATS.md principle 7, "Envelope and access"): only
// after STARTTLS, scrypt hashes, the same answer for unknown users and wrong
// passwords, failed attempts rate-limited per client address, and the
// authenticated name reaching policy rules.

import { mkdtemp, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigObject } from '../../src/config/load.js';
import { createIngress } from '../../src/smtp/ingress.js';
import { hashPassword } from '../../src/smtp/password-hash.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';
import { SmtpLineClient } from '../helpers/smtp-client.js';
import { TEST_TLS } from '../helpers/test-tls.js';

const REPLY = {
  tlsFirst: '538 5.7.11 Must issue a STARTTLS command first; AUTH is only offered over TLS',
  // ENHANCEDSTATUSCODES is offered, so smtp-server's own replies carry one too (RFC 4954: 2.7.0).
  ok: '235 2.7.0 Authentication successful',
  invalid: '535 5.7.8 Authentication credentials invalid',
  limited: '421 4.7.0 Too many failed authentication attempts from your address; try again later',
  required: '530 5.7.0 Authentication required; use AUTH after STARTTLS',
} as const;

const plain = (user: string, pass: string, authzid = '') => Buffer.from(`${authzid}\0${user}\0${pass}`).toString('base64');
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A raw SMTP client that can switch to TLS: it shows the exact reply lines. */
/** The shared line client plus what AUTH tests need. */
class RawSmtp extends SmtpLineClient {
  /** Connected; the greeting is the first reply(). */
  static async unread(port: number, localAddress = '127.0.0.1'): Promise<RawSmtp> {
    return new RawSmtp(await SmtpLineClient.socketTo(port, { localAddress }));
  }

  static async open(port: number, localAddress = '127.0.0.1'): Promise<RawSmtp> {
    const client = await RawSmtp.unread(port, localAddress);
    expect(await client.reply()).toMatch(/^220 /);
    return client;
  }

  /** STARTTLS and the handshake, nothing after it. */
  async handshake(): Promise<string> {
    return super.starttls(TEST_TLS.ca);
  }

  async ehlo(): Promise<string[]> {
    this.writeRaw('EHLO client.test\r\n');
    return this.replyLines();
  }

  /** STARTTLS, handshake, EHLO again. */
  override async starttls(): Promise<string> {
    const answer = await super.starttls(TEST_TLS.ca);
    expect(answer).toMatch(/^220 /);
    await this.ehlo();
    return answer;
  }

  /** Opens, STARTTLS, EHLO: ready for AUTH. */
  static async secured(port: number, localAddress?: string): Promise<RawSmtp> {
    const client = await RawSmtp.open(port, localAddress);
    await client.ehlo();
    await client.starttls();
    return client;
  }

  async authPlain(user: string, pass: string): Promise<string> {
    return this.command(`AUTH PLAIN ${plain(user, pass)}`);
  }

  async authLogin(user: string, pass: string): Promise<string> {
    const first = await this.command('AUTH LOGIN');
    if (!first.startsWith('334')) return first;
    expect(await this.command(b64(user))).toBe('334 UGFzc3dvcmQ6');
    return this.command(b64(pass));
  }

  async send(mailFrom: string, rcptTo: string[], message: string): Promise<string> {
    const mail = await this.command(`MAIL FROM:<${mailFrom}>`);
    if (!mail.startsWith('250')) return mail;
    for (const r of rcptTo) expect(await this.command(`RCPT TO:<${r}>`)).toMatch(/^250/);
    expect(await this.command('DATA')).toMatch(/^354/);
    this.socket.write(message.replace(/\r?\n/g, '\r\n') + '\r\n.\r\n');
    return this.reply();
  }
}

let tlsFiles: { key: string; cert: string };
const hashes: Record<string, string> = {};
const PASSWORDS = { app: 'app-secret-1', batch: 'b@tch pass \u00e9' } as const;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mail-guard-auth-'));
  tlsFiles = { key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') };
  await writeFile(tlsFiles.key, TEST_TLS.key);
  await writeFile(tlsFiles.cert, TEST_TLS.cert);
  for (const [name, password] of Object.entries(PASSWORDS)) hashes[name] = await hashPassword(password);
});

let upstream: RecordingUpstream | undefined;
let guard: RunningMailGuard | undefined;
afterEach(async () => {
  await guard?.stop();
  await upstream?.close();
  guard = undefined;
  upstream = undefined;
});

const users = () => Object.keys(PASSWORDS).map((name) => ({ name, passwordHash: hashes[name]! }));

async function start(auth: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  upstream = await startRecordingUpstream();
  guard = await startMailGuard({
    smtp: { tls: tlsFiles, auth: { required: true, users: users(), ...auth }, allowFrom: ['127.0.0.0/8'], ...extra },
    upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 2 },
    internalDomains: ['example.co.jp'],
    policy: { action: 'monitor', rules: [{ name: 'app-strict', authUser: 'app', action: 'reject' }] },
  });
  return { upstream, guard };
}

const EXPOSING = 'From: app@example.co.jp\nTo: a@ext1.com, b@ext2.com\nSubject: hello\n\nhi';
const CLEAN = 'From: app@example.co.jp\nTo: a@ext1.com\nSubject: hello\n\nhi';

describe('AUTH only after STARTTLS', () => {
  it('greets once as mail-guard, and EHLO offers AUTH only after STARTTLS (exact lines)', async () => {
    const { guard } = await start();
    const client = await RawSmtp.unread(guard.smtpPort);
    expect(await client.replyLines()).toEqual([`220 ${hostname()} ESMTP mail-guard`]);
    const hello = `250-${hostname()} Nice to meet you, [127.0.0.1]`;
    // ENHANCEDSTATUSCODES and DSN since envelope fidelity (issue 9 item 3); REQUIRETLS only on a TLS session.
    expect(await client.ehlo()).toEqual([
      hello,
      '250-PIPELINING',
      '250-8BITMIME',
      '250-SMTPUTF8',
      '250-ENHANCEDSTATUSCODES',
      '250-DSN',
      '250-STARTTLS',
      '250 SIZE 52428800',
    ]);
    // Not offered, and still refused with the reason if tried anyway.
    expect(await client.command('AUTH LOGIN')).toBe(REPLY.tlsFirst);
    expect(await client.handshake()).toMatch(/^220 /);
    expect(await client.ehlo()).toEqual([
      hello,
      '250-PIPELINING',
      '250-8BITMIME',
      '250-SMTPUTF8',
      '250-ENHANCEDSTATUSCODES',
      '250-DSN',
      '250-AUTH PLAIN LOGIN',
      '250-REQUIRETLS',
      '250 SIZE 52428800',
    ]);
    expect(await client.authPlain('app', PASSWORDS.app)).toBe(REPLY.ok);
    client.close();
  });

  it('answers 538 with an enhanced code before TLS, for PLAIN and LOGIN, and never asks for a password', async () => {
    const { guard } = await start();
    const client = await RawSmtp.open(guard.smtpPort);
    const ehlo = await client.ehlo();
    expect(ehlo).toContain('250-STARTTLS');
    expect(await client.command(`AUTH PLAIN ${plain('app', PASSWORDS.app)}`)).toBe(REPLY.tlsFirst);
    expect(await client.command('AUTH LOGIN')).toBe(REPLY.tlsFirst);
    // Still usable: upgrade and log in on the same connection.
    await client.starttls();
    expect(await client.authPlain('app', PASSWORDS.app)).toBe(REPLY.ok);
    client.close();
  });

  it('with required auth, MAIL FROM without AUTH gets 530 5.7.0, before and after TLS', async () => {
    const { guard, upstream } = await start();
    const client = await RawSmtp.open(guard.smtpPort);
    await client.ehlo();
    expect(await client.command('MAIL FROM:<app@example.co.jp>')).toBe(REPLY.required);
    await client.starttls();
    expect(await client.command('MAIL FROM:<app@example.co.jp>')).toBe(REPLY.required);
    expect(await client.command('RCPT TO:<a@ext1.com>')).toBe(REPLY.required);
    client.close();
    expect(upstream.transactions).toBe(0);
  });

  it('with optional auth, an unauthenticated client may still send and a logged-in one is named', async () => {
    const { guard, upstream } = await start({ required: false });
    const anonymous = await RawSmtp.secured(guard.smtpPort);
    expect(await anonymous.send('app@example.co.jp', ['a@ext1.com'], CLEAN)).toMatch(/^250 /);
    anonymous.close();
    expect(upstream.messages).toHaveLength(1);
  });
});

describe('credentials', () => {
  it('PLAIN and LOGIN with the right password: 235, relayed, and policy rules see the user', async () => {
    const { guard, upstream } = await start();
    const app = await RawSmtp.secured(guard.smtpPort);
    expect(await app.authPlain('app', PASSWORDS.app)).toBe(REPLY.ok);
    expect(await app.send('app@example.co.jp', ['a@ext1.com'], CLEAN)).toMatch(/^250 2\.0\.0 /);
    // The rule for "app" turns this violation into a reject…
    expect(await app.send('app@example.co.jp', ['a@ext1.com', 'b@ext2.com'], EXPOSING)).toMatch(/^550 5\.7\.1 Message exposes 2 /);
    app.close();

    // …while another user falls through to the policy's monitor action and is relayed.
    const batch = await RawSmtp.secured(guard.smtpPort);
    expect(await batch.authLogin('batch', PASSWORDS.batch)).toBe(REPLY.ok);
    expect(await batch.send('app@example.co.jp', ['a@ext1.com', 'b@ext2.com'], EXPOSING)).toMatch(/^250 /);
    batch.close();

    expect(upstream.messages.map((m) => m.rcptTo)).toEqual([['a@ext1.com'], ['a@ext1.com', 'b@ext2.com']]);
  });

  it('a second AUTH after success is refused (no identity change)', async () => {
    const { guard } = await start();
    const client = await RawSmtp.secured(guard.smtpPort);
    expect(await client.authPlain('app', PASSWORDS.app)).toBe(REPLY.ok);
    expect(await client.authPlain('batch', PASSWORDS.batch)).toMatch(/^503 /);
    client.close();
  });

  it('wrong password and unknown user get the same 535 5.7.8, over PLAIN and LOGIN', async () => {
    const { guard, upstream } = await start();
    const client = await RawSmtp.secured(guard.smtpPort);
    expect(await client.authPlain('app', 'wrong')).toBe(REPLY.invalid);
    expect(await client.authPlain('nobody', 'wrong')).toBe(REPLY.invalid);
    expect(await client.authLogin('app', 'wrong')).toBe(REPLY.invalid);
    expect(await client.authLogin('nobody', PASSWORDS.app)).toBe(REPLY.invalid);
    // Not logged in after failures.
    expect(await client.command('MAIL FROM:<app@example.co.jp>')).toBe(REPLY.required);
    client.close();
    expect(upstream.transactions).toBe(0);
  });

  it('PLAIN asking to act as another user (authzid) is a failed attempt', async () => {
    const { guard } = await start();
    const client = await RawSmtp.secured(guard.smtpPort);
    expect(await client.command(`AUTH PLAIN ${plain('batch', PASSWORDS.batch, 'app')}`)).toBe(REPLY.invalid);
    // The username in authzid with an empty authcid is how many clients send it: accepted.
    expect(await client.command(`AUTH PLAIN ${b64(`app\0\0${PASSWORDS.app}`)}`)).toBe(REPLY.ok);
    client.close();
  });

  it('works with a real client (nodemailer: STARTTLS, AUTH, send)', async () => {
    const { guard, upstream } = await start();
    const connection = new SMTPConnection({ host: '127.0.0.1', port: guard.smtpPort, requireTLS: true, tls: { ca: TEST_TLS.ca, servername: 'localhost' } });
    await new Promise<void>((resolve, reject) => {
      connection.once('error', reject);
      connection.connect(() => resolve());
    });
    await new Promise<void>((resolve, reject) => connection.login({ user: 'batch', pass: PASSWORDS.batch }, (err) => (err ? reject(err) : resolve())));
    const info = await new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) =>
      connection.send({ from: 'app@example.co.jp', to: ['a@ext1.com'] }, CLEAN.replace(/\n/g, '\r\n'), (err, i) => (err ? reject(err) : resolve(i))),
    );
    connection.quit();
    expect(info.accepted).toEqual(['a@ext1.com']);
    expect(upstream.messages).toHaveLength(1);
  });
});

describe('failed-auth rate limiting', () => {
  it('after 5 failures the address is turned away with 421 4.7.0 even with the right password; other addresses are not', async () => {
    const { guard } = await start();
    const first = await RawSmtp.secured(guard.smtpPort);
    for (let i = 0; i < 3; i++) expect(await first.authPlain('app', `guess-${i}`)).toBe(REPLY.invalid);
    first.close();
    // Unknown users count the same, and so does a new connection.
    const second = await RawSmtp.secured(guard.smtpPort);
    expect(await second.authLogin('nobody', 'x')).toBe(REPLY.invalid);
    expect(await second.authPlain('root', 'x')).toBe(REPLY.invalid);
    expect(await second.authPlain('app', PASSWORDS.app)).toBe(REPLY.limited);
    expect(await second.reply()).toBe('(connection closed)');
    expect(second.closed).toBe(true);

    const third = await RawSmtp.secured(guard.smtpPort);
    expect(await third.command('AUTH LOGIN')).toBe(REPLY.limited);
    expect(await third.reply()).toBe('(connection closed)');

    // A different client address is unaffected.
    const other = await RawSmtp.secured(guard.smtpPort, '127.0.0.2');
    expect(await other.authPlain('app', PASSWORDS.app)).toBe(REPLY.ok);
    other.close();
  });

  it('a successful login does not reset the failure count', async () => {
    const { guard } = await start();
    const client = await RawSmtp.secured(guard.smtpPort);
    for (let i = 0; i < 4; i++) expect(await client.authPlain('app', `guess-${i}`)).toBe(REPLY.invalid);
    expect(await client.authPlain('batch', PASSWORDS.batch)).toBe(REPLY.ok);
    client.close();
    const again = await RawSmtp.secured(guard.smtpPort);
    expect(await again.authPlain('app', 'guess-4')).toBe(REPLY.invalid);
    expect(await again.authPlain('app', PASSWORDS.app)).toBe(REPLY.limited);
    again.close();
  });

  it('ten correct logins at the same moment all succeed: a check in flight is no failure', async () => {
    const { guard } = await start();
    const clients = await Promise.all(Array.from({ length: 10 }, () => RawSmtp.secured(guard.smtpPort)));
    // Every AUTH is written before any answer comes back.
    const answers = await Promise.all(clients.map((c, i) => (i % 2 ? c.authLogin('batch', PASSWORDS.batch) : c.authPlain('app', PASSWORDS.app))));
    expect(answers).toEqual(Array(10).fill(REPLY.ok));
    for (const c of clients) c.close();
  });

  it('four wrong and six correct logins at the same moment: the wrong ones get 535, every correct one 235', async () => {
    const { guard } = await start();
    const clients = await Promise.all(Array.from({ length: 10 }, () => RawSmtp.secured(guard.smtpPort)));
    const answers = await Promise.all(clients.map((c, i) => c.authPlain('app', i < 4 ? `guess-${i}` : PASSWORDS.app)));
    expect(answers).toEqual([...Array(4).fill(REPLY.invalid), ...Array(6).fill(REPLY.ok)]);
    for (const c of clients) c.close();
  });

  it('a lockout is logged once (client IP, no user name or password) and counted; each failed login counts as auth_failed', async () => {
    const { guard } = await start();
    const metric = async (name: string) => {
      const text = await (await fetch(`http://127.0.0.1:${guard.adminPort}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.slice(name.length + 1));
    };
    expect(await metric('mailguard_auth_lockouts_total')).toBe(0);
    expect(await metric('mailguard_smtp_sessions_total{result="auth_failed"}')).toBe(0);

    const client = await RawSmtp.secured(guard.smtpPort);
    for (let i = 0; i < 4; i++) expect(await client.authPlain('app@example.co.jp', `guess-${i}`)).toBe(REPLY.invalid);
    expect(guard.logs.filter((l) => l['event'] === 'auth_lockout')).toHaveLength(0);
    expect(await client.authLogin('app', 'guess-4')).toBe(REPLY.invalid);
    // Locked out: even the right password is turned away.
    expect(await client.authPlain('app', PASSWORDS.app)).toBe(REPLY.limited);
    const again = await RawSmtp.secured(guard.smtpPort);
    expect(await again.authPlain('app', PASSWORDS.app)).toBe(REPLY.limited);

    const lockouts = guard.logs.filter((l) => l['event'] === 'auth_lockout');
    expect(lockouts).toHaveLength(1);
    expect(lockouts[0]).toMatchObject({ level: 40, client: '127.0.0.1', failures: 5, windowSeconds: 600 });
    const text = JSON.stringify(lockouts[0]);
    for (const secret of ['guess-', PASSWORDS.app, '@', 'app']) expect(text).not.toContain(secret);
    expect(await metric('mailguard_auth_lockouts_total')).toBe(1);
    expect(await metric('mailguard_smtp_sessions_total{result="auth_failed"}')).toBe(5);
  });

  it('parallel attempts cannot race past the limit', async () => {
    const { guard } = await start();
    const clients = await Promise.all(Array.from({ length: 8 }, () => RawSmtp.secured(guard.smtpPort)));
    const answers = await Promise.all(clients.map((c, i) => c.authPlain('app', `guess-${i}`)));
    expect(answers.filter((a) => a === REPLY.invalid)).toHaveLength(5);
    expect(answers.filter((a) => a === REPLY.limited)).toHaveLength(3);
    for (const c of clients) c.close();
  });
});

describe('the ingress on its own', () => {
  it('calls onAuthFailure once per failed credential check, not for refusals before one', async () => {
    const config = parseConfigObject({ smtp: { port: 0, tls: tlsFiles, auth: { users: users() } } }).smtp;
    let failures = 0;
    const ingress = createIngress(config, {
      onMessage: async () => ({ code: 250, enhanced: '2.0.0', text: 'ok' }),
      onAuthFailure: () => failures++,
    });
    const port = await ingress.listen();
    try {
      const plainText = await RawSmtp.open(port);
      await plainText.ehlo();
      expect(await plainText.command('AUTH LOGIN')).toBe(REPLY.tlsFirst);
      plainText.close();
      const client = await RawSmtp.secured(port);
      expect(await client.authPlain('app', 'nope')).toBe(REPLY.invalid);
      expect(await client.authPlain('ghost', 'nope')).toBe(REPLY.invalid);
      expect(await client.authPlain('app', PASSWORDS.app)).toBe(REPLY.ok);
      // Optional auth (required: false): MAIL FROM works either way.
      expect(await client.send('x@example.co.jp', ['y@example.co.jp'], CLEAN)).toBe('250 2.0.0 ok');
      client.close();
      expect(failures).toBe(2);
    } finally {
      await ingress.close();
    }
  });
});
