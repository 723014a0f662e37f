import { afterEach, describe, expect, it } from 'vitest';
import { configSchema, type UpstreamConfig } from '../../src/config/schema.js';
import { formatReply } from '../../src/reply/replies.js';
import { UpstreamPool, type UpstreamPoolOptions } from '../../src/upstream/pool.js';
import { parseUpstreamResponse, replyForUpstreamAccept, replyForUpstreamError } from '../../src/upstream/reply-for-upstream-error.js';
import { classifyUpstreamFailure, UpstreamError, type UpstreamErrorInit } from '../../src/upstream/upstream-error.js';
import { freePort } from '../helpers/free-port.js';
import { startRecordingUpstream, type RecordingUpstreamOptions } from '../helpers/recording-upstream.js';
import { startScriptedUpstream, type ScriptedUpstreamOptions } from '../helpers/scripted-upstream.js';
import { TEST_TLS } from '../helpers/test-tls.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function upstreamConfig(port: number, overrides: Record<string, unknown> = {}): UpstreamConfig {
  const parsed = configSchema.parse({ upstream: { host: '127.0.0.1', port, requireTLS: false, pool: 1, ...overrides } }).upstream;
  if (!parsed) throw new Error('no upstream config');
  return parsed;
}

function makePool(port: number, overrides: Record<string, unknown> = {}, options: UpstreamPoolOptions = {}): UpstreamPool {
  const pool = new UpstreamPool(upstreamConfig(port, overrides), { connectTimeoutMs: 5000, dataTimeoutMs: 5000, ...options });
  cleanups.push(() => pool.close(1000));
  return pool;
}

async function recording(options?: RecordingUpstreamOptions) {
  const upstream = await startRecordingUpstream(options);
  cleanups.unshift(() => upstream.close()); // closed after the pools
  return upstream;
}

async function scripted(options?: ScriptedUpstreamOptions) {
  const peer = await startScriptedUpstream(options);
  cleanups.unshift(() => peer.close());
  return peer;
}

function warnings() {
  const seen: string[] = [];
  return { seen, logger: { warn: (_obj: object, msg: string) => void seen.push(msg) } };
}

const ENVELOPE = { mailFrom: 'app@corp.example', rcptTo: ['a@ext.example'] } as const;

function message(subject: string): Buffer {
  return Buffer.from(`From: app@corp.example\r\nTo: a@ext.example\r\nSubject: ${subject}\r\n\r\nHello\r\n`);
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(UpstreamError);
    return err as UpstreamError;
  }
  throw new Error('expected the send to fail');
}

const line = (e: UpstreamError): string => formatReply(replyForUpstreamError(e));

describe('UpstreamPool against a recording upstream', () => {
  it('relays exactly the bytes it was given (dot lines, 8-bit, no trailing CRLF change)', async () => {
    const upstream = await recording();
    const pool = makePool(upstream.port);
    const raw = Buffer.concat([
      Buffer.from('From: app@corp.example\r\nTo: a@ext.example\r\nSubject: dots\r\n\r\n'),
      Buffer.from('.leading dot\r\n..two dots\r\n.\r\nmiddle\r\n'),
      Buffer.from('caf\xc3\xa9 8-bit \xff bytes\r\n', 'latin1'),
      Buffer.from('last line .\r\n.\r\n'),
    ]);
    const delivery = await pool.send({ ...ENVELOPE, eightBitMime: true }, raw);
    expect(upstream.messages).toHaveLength(1);
    expect(upstream.messages[0]?.raw.equals(raw)).toBe(true);
    expect(upstream.messages[0]?.mailFrom).toBe('app@corp.example');
    expect(upstream.messages[0]?.rcptTo).toEqual(['a@ext.example']);
    expect(delivery.accepted).toEqual(['a@ext.example']);
    expect(delivery.rejected).toEqual([]);
    expect(delivery.reusedConnection).toBe(false);
    expect(formatReply(replyForUpstreamAccept(delivery.response))).toBe('250 2.0.0 upstream: Ok: queued as R1');
    expect(pool.lastSuccessAt).not.toBeNull();
  });

  it('reuses one connection for consecutive messages (pool 1, 10 sends)', async () => {
    const upstream = await recording();
    const pool = makePool(upstream.port);
    const reused: boolean[] = [];
    for (let i = 0; i < 10; i++) reused.push((await pool.send(ENVELOPE, message(`m${i}`))).reusedConnection);
    expect(upstream.connections).toBe(1);
    expect(upstream.messages).toHaveLength(10);
    expect(reused).toEqual([false, ...Array(9).fill(true)]);
  });

  it('bounds concurrency by the pool size and serves waiters in order', async () => {
    const upstream = await recording();
    const pool = makePool(upstream.port, { pool: 3 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.send(ENVELOPE, message(`c${i}`))));
    expect(results).toHaveLength(20);
    expect(upstream.connections).toBe(3);
    expect(upstream.messages).toHaveLength(20);

    const single = await recording();
    const fifo = makePool(single.port, { pool: 1 });
    await Promise.all(Array.from({ length: 6 }, (_, i) => fifo.send(ENVELOPE, message(`q${i}`))));
    expect(single.messages.map((m) => /Subject: (\S+)/.exec(m.raw.toString())?.[1])).toEqual(['q0', 'q1', 'q2', 'q3', 'q4', 'q5']);
  });

  it('upstream.pool auto opens a session for every transaction that would wait, and counts the waits of a fixed cap', async () => {
    const upstream = await recording();
    const waits: number[] = [];
    const pool = makePool(upstream.port, { pool: 'auto' }, { onWait: (s) => waits.push(s) });
    await Promise.all(Array.from({ length: 12 }, (_, i) => pool.send(ENVELOPE, message(`a${i}`))));
    expect(upstream.connections).toBe(12);
    expect(pool.sessions).toBe(12);
    expect(waits).toEqual([]);

    const capped = await recording();
    const fixedWaits: number[] = [];
    const fixed = makePool(capped.port, { pool: 2 }, { onWait: (s) => fixedWaits.push(s) });
    await Promise.all(Array.from({ length: 6 }, (_, i) => fixed.send(ENVELOPE, message(`f${i}`))));
    expect(capped.connections).toBe(2);
    expect(fixedWaits).toHaveLength(4);
    for (const s of fixedWaits) expect(s).toBeGreaterThanOrEqual(0);
  });

  it('upstream.pool auto against a relay that allows 2 sessions: the refused ones wait for those 2 and every message is delivered', async () => {
    const upstream = await recording({ maxClients: 2 });
    const pool = makePool(upstream.port, { pool: 'auto' });
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => pool.send(ENVELOPE, message(`l${i}`))));
    expect(results.map((r) => r.status)).toEqual(Array(6).fill('fulfilled'));
    expect(upstream.messages).toHaveLength(6);
    expect(pool.sessions).toBeLessThanOrEqual(2);
    // The learned cap holds: the next burst opens no connection beyond the two.
    const before = upstream.connections;
    await Promise.all(Array.from({ length: 4 }, (_, i) => pool.send(ENVELOPE, message(`m${i}`))));
    expect(upstream.connections).toBe(before);

    // A fixed cap keeps its old behaviour: a refused connection fails that send (451 4.4.1).
    const limited = await recording({ maxClients: 2 });
    const fixed = makePool(limited.port, { pool: 6 });
    const fixedResults = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => fixed.send(ENVELOPE, message(`x${i}`))));
    const failed = fixedResults.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failed.length).toBeGreaterThan(0);
    expect(line(failed[0]!.reason as UpstreamError)).toMatch(/^451 4\.4\.1 /);
  });

  it('rotates a connection after maxMessagesPerConnection', async () => {
    const upstream = await recording();
    const pool = makePool(upstream.port, {}, { maxMessagesPerConnection: 2 });
    for (let i = 0; i < 5; i++) await pool.send(ENVELOPE, message(`r${i}`));
    expect(upstream.connections).toBe(3);
    expect(upstream.messages).toHaveLength(5);
  });

  it('reports a partial RCPT refusal and delivers to the rest', async () => {
    const upstream = await recording({
      rcptReply: (address) =>
        address.startsWith('bad')
          ? { code: 550, message: '5.1.1 No such user' }
          : address.startsWith('later')
            ? { code: 450, message: '4.2.1 Mailbox busy' }
            : undefined,
    });
    const pool = makePool(upstream.port);
    const delivery = await pool.send({ mailFrom: 'app@corp.example', rcptTo: ['ok@ext.example', 'bad@ext.example', 'later@ext.example'] }, message('partial'));
    expect(delivery.accepted).toEqual(['ok@ext.example']);
    expect(delivery.rejected).toEqual([
      { recipient: 'bad@ext.example', code: 550, response: '550 5.1.1 No such user', permanent: true },
      { recipient: 'later@ext.example', code: 450, response: '450 4.2.1 Mailbox busy', permanent: false },
    ]);
    expect(upstream.messages.map((m) => m.rcptTo)).toEqual([['ok@ext.example']]);
  });

  it('fails when every RCPT is refused: permanent if all 5xx, transient if any 4xx; the session stays usable', async () => {
    const upstream = await recording({
      rcptReply: (address) =>
        address.startsWith('bad')
          ? { code: 550, message: '5.1.1 No such user' }
          : address.startsWith('later')
            ? { code: 450, message: '4.2.1 Mailbox busy' }
            : undefined,
    });
    const pool = makePool(upstream.port);

    const permanent = await failure(pool.send({ mailFrom: 'app@corp.example', rcptTo: ['bad1@ext.example', 'bad2@ext.example'] }, message('x')));
    expect(permanent).toMatchObject({ kind: 'permanent', stage: 'envelope', metricClass: '5xx', responseCode: 550 });
    expect(permanent.rejected?.map((r) => r.recipient)).toEqual(['bad1@ext.example', 'bad2@ext.example']);
    expect(line(permanent)).toBe('550 5.1.1 upstream: No such user');

    const transient = await failure(pool.send({ mailFrom: 'app@corp.example', rcptTo: ['bad1@ext.example', 'later@ext.example'] }, message('y')));
    expect(transient).toMatchObject({ kind: 'transient', stage: 'envelope', metricClass: '4xx', responseCode: 450 });
    expect(line(transient)).toBe('450 4.2.1 upstream: Mailbox busy');

    await pool.send(ENVELOPE, message('after'));
    expect(upstream.messages).toHaveLength(1);
    expect(upstream.connections).toBe(1);
  });

  it('logs in with AUTH, and a refused login is 451 4.4.1', async () => {
    const upstream = await recording({ auth: { user: 'relay-user', pass: 'relay-pass' } });
    const good = makePool(upstream.port, { auth: { user: 'relay-user', pass: 'relay-pass' } });
    await good.send(ENVELOPE, message('auth'));
    expect(upstream.messages).toHaveLength(1);

    const bad = makePool(upstream.port, { auth: { user: 'relay-user', pass: 'wrong' } });
    const e = await failure(bad.send(ENVELOPE, message('auth')));
    expect(e).toMatchObject({ kind: 'auth', stage: 'connect', metricClass: 'connect' });
    expect(line(e)).toMatch(/^451 4\.4\.1 /);
    expect(upstream.messages).toHaveLength(1);
  });

  it('uses STARTTLS with certificate checks: trusted CA passes, an untrusted certificate fails closed', async () => {
    const trusted = await recording({ tls: { key: TEST_TLS.key, cert: TEST_TLS.cert } });
    const ok = makePool(trusted.port, { requireTLS: true }, { tls: { ca: TEST_TLS.ca } });
    await ok.send(ENVELOPE, message('tls'));
    expect(trusted.messages).toHaveLength(1);

    const untrusted = await recording({ tls: 'untrusted' });
    const pool = makePool(untrusted.port, { requireTLS: true });
    const e = await failure(pool.send(ENVELOPE, message('tls')));
    expect(e).toMatchObject({ kind: 'tls', stage: 'connect', metricClass: 'connect' });
    expect(line(e)).toMatch(/^451 4\.4\.1 /);
    expect(untrusted.transactions).toBe(0);
  });

  it('verify() checks the upstream (fresh and idle sessions) and close() stops the pool', async () => {
    const upstream = await recording();
    const pool = makePool(upstream.port);
    await pool.verify();
    await pool.verify(); // probes the idle session with RSET
    await pool.send(ENVELOPE, message('v'));
    expect(upstream.connections).toBe(1);
    await pool.close();
    const e = await failure(pool.send(ENVELOPE, message('after close')));
    expect(line(e)).toMatch(/^451 4\.4\.1 /);

    const refused = makePool(await freePort());
    const down = await failure(refused.verify());
    expect(down.kind).toBe('connect');
  });
});

describe('UpstreamPool faults', () => {
  it('connection refused → kind connect, 451 4.4.1', async () => {
    const pool = makePool(await freePort());
    const e = await failure(pool.send(ENVELOPE, message('refused')));
    expect(e).toMatchObject({ kind: 'connect', stage: 'connect', metricClass: 'connect' });
    expect(line(e)).toBe('451 4.4.1 Upstream relay is unreachable; try again later');
  });

  it('421 at the greeting → 451 4.4.1 with the upstream text', async () => {
    const peer = await scripted({ greeting: '421 4.3.2 Service not available, closing channel' });
    const pool = makePool(peer.port);
    const e = await failure(pool.send(ENVELOPE, message('greeting')));
    expect(e).toMatchObject({ kind: 'connect', stage: 'connect', responseCode: 421, metricClass: 'connect' });
    expect(line(e)).toBe('451 4.4.1 upstream: Service not available, closing channel');
    expect(peer.transactions).toBe(0);
  });

  it('a silent upstream (no greeting) → kind timeout at connect, 451 4.4.1', async () => {
    const peer = await scripted({ greeting: null });
    const pool = makePool(peer.port, {}, { connectTimeoutMs: 300 });
    const e = await failure(pool.send(ENVELOPE, message('silent')));
    expect(e).toMatchObject({ kind: 'timeout', stage: 'connect', metricClass: 'connect' });
    expect(line(e)).toMatch(/^451 4\.4\.1 /);
  });

  it('close() with a message waiting for the reply to its dot destroys the session after the grace period → 451 4.4.2', async () => {
    const peer = await scripted({ afterDot: () => ({ hang: true }) });
    const pool = makePool(peer.port, {}, { dataTimeoutMs: 30_000 });
    const pending = failure(pool.send(ENVELOPE, message('in flight')));
    await peer.whenReceived(1);
    await pool.close(100);
    const e = await pending;
    expect(e).toMatchObject({ kind: 'dropped', stage: 'data' });
    expect(line(e)).toMatch(/^451 4\.4\.2 /);
    expect(peer.transactions).toBe(1);
  });

  it('requireTLS against an upstream without STARTTLS → kind tls, 451 4.4.1, nothing sent', async () => {
    const peer = await scripted();
    const pool = makePool(peer.port, { requireTLS: true });
    const e = await failure(pool.send(ENVELOPE, message('plain')));
    expect(e).toMatchObject({ kind: 'tls', stage: 'connect' });
    expect(e.message).toMatch(/^STARTTLS with the upstream failed .*upstream\.requireTLS/);
    expect(line(e)).toMatch(/^451 4\.4\.1 /);
    expect(peer.transactions).toBe(0);
  });

  it('4xx after the dot keeps the code and the enhanced code (default 4.0.0); the session is RSET and reused', async () => {
    let n = 0;
    const peer = await scripted({
      afterDot: () =>
        ++n === 1 ? { reply: '451 4.7.1 Greylisted, try again later' } : n === 2 ? { reply: '452 Insufficient system storage' } : { reply: '250 2.0.0 Ok' },
    });
    const pool = makePool(peer.port);
    const greylisted = await failure(pool.send(ENVELOPE, message('4xx')));
    expect(greylisted).toMatchObject({ kind: 'transient', stage: 'data', responseCode: 451, metricClass: '4xx' });
    expect(line(greylisted)).toBe('451 4.7.1 upstream: Greylisted, try again later');

    const storage = await failure(pool.send(ENVELOPE, message('4xx')));
    expect(line(storage)).toBe('452 4.0.0 upstream: Insufficient system storage');

    await pool.send(ENVELOPE, message('ok'));
    expect(peer.connections).toBe(1);
    expect(peer.log.filter((l) => l.endsWith(' RSET'))).toHaveLength(2);
    expect(peer.delivered).toHaveLength(1);
  });

  it('5xx after the dot keeps the code and the text', async () => {
    const peer = await scripted({ afterDot: () => ({ reply: '554 5.7.1 Message rejected: spam' }) });
    const pool = makePool(peer.port);
    const e = await failure(pool.send(ENVELOPE, message('5xx')));
    expect(e).toMatchObject({ kind: 'permanent', stage: 'data', responseCode: 554, metricClass: '5xx' });
    expect(line(e)).toBe('554 5.7.1 upstream: Message rejected: spam');
    expect(peer.transactions).toBe(1);
  });

  it('421 after the dot → 451 4.4.1 with the upstream text', async () => {
    const peer = await scripted({ afterDot: () => ({ reply: '421 4.3.2 Shutting down' }) });
    const pool = makePool(peer.port);
    const e = await failure(pool.send(ENVELOPE, message('421')));
    expect(e).toMatchObject({ kind: 'transient', stage: 'data', responseCode: 421 });
    expect(line(e)).toBe('451 4.4.1 upstream: Shutting down');
  });

  it('no reply after the dot → 451 4.4.2 (may be delivered twice), exactly one transaction, logged as possible duplicate', async () => {
    const peer = await scripted({ afterDot: () => ({ hang: true }) });
    const log = warnings();
    const pool = makePool(peer.port, {}, { dataTimeoutMs: 300, logger: log.logger });
    const e = await failure(pool.send(ENVELOPE, message('hang')));
    expect(e).toMatchObject({ kind: 'timeout', stage: 'data', metricClass: 'connect', possiblyDelivered: true });
    expect(line(e)).toMatch(/^451 4\.4\.2 .*delivered twice/);
    await pool.close(1000);
    expect(peer.transactions).toBe(1);
    expect(peer.received).toHaveLength(1);
    expect(log.seen.some((m) => m.includes('possible duplicate'))).toBe(true);
  });

  it('connection closed after the dot → dropped, 451 4.4.2, never retried', async () => {
    const peer = await scripted({ afterDot: () => ({ close: true }) });
    const pool = makePool(peer.port);
    await pool.send(ENVELOPE, message('warm')).catch(() => undefined);
    // Second send runs on a fresh connection (the first was dropped), still not retried.
    const e = await failure(pool.send(ENVELOPE, message('drop')));
    expect(e).toMatchObject({ kind: 'dropped', stage: 'data' });
    expect(line(e)).toMatch(/^451 4\.4\.2 /);
    await pool.close(1000);
    expect(peer.transactions).toBe(2);
    expect(peer.received).toHaveLength(2);
  });

  it('an idle connection the upstream closed is dropped; the next send succeeds with one delivered transaction', async () => {
    const peer = await scripted();
    const pool = makePool(peer.port);
    await pool.send(ENVELOPE, message('first'));
    expect(peer.closeIdle('421 4.4.2 scripted.test Error: timeout exceeded')).toBe(1);
    const second = await pool.send(ENVELOPE, message('second'));
    expect(second.response).toMatch(/^250 /);
    expect(peer.delivered.map((m) => /Subject: (\S+)/.exec(m.raw.toString())?.[1])).toEqual(['first', 'second']);
    expect(peer.received).toHaveLength(2);
  });

  it('a stale reused connection that dies on MAIL is retried once on a fresh connection', async () => {
    const peer = await scripted();
    const log = warnings();
    const pool = makePool(peer.port, {}, { logger: log.logger });
    await pool.send(ENVELOPE, message('first'));
    expect(peer.breakIdle()).toBe(1);
    const second = await pool.send(ENVELOPE, message('second'));
    expect(second.reusedConnection).toBe(false);
    expect(peer.connections).toBe(2);
    expect(peer.transactions).toBe(2); // the broken session died before answering MAIL
    expect(peer.delivered).toHaveLength(2);
    expect(log.seen.some((m) => m.includes('retrying once'))).toBe(true);
  });

  it('a 421 to MAIL on a reused connection is retried once on a fresh connection', async () => {
    const mailsOnConnection = new Map<number, number>();
    const peer = await scripted({
      mail: (_address, connection) => {
        const n = (mailsOnConnection.get(connection) ?? 0) + 1;
        mailsOnConnection.set(connection, n);
        return connection === 1 && n === 2 ? '421 4.4.2 Idle timeout exceeded, closing' : undefined;
      },
    });
    const pool = makePool(peer.port);
    await pool.send(ENVELOPE, message('first'));
    const second = await pool.send(ENVELOPE, message('second'));
    expect(second.reusedConnection).toBe(false);
    expect(peer.connections).toBe(2);
    expect(peer.delivered).toHaveLength(2);
  });

  it('a 421 to MAIL on a fresh connection is not retried → 451 4.4.1 with the upstream text', async () => {
    const peer = await scripted({ mail: () => '421 4.7.0 Too many connections' });
    const pool = makePool(peer.port);
    const e = await failure(pool.send(ENVELOPE, message('busy')));
    expect(e).toMatchObject({ kind: 'transient', stage: 'envelope', responseCode: 421, metricClass: '4xx' });
    expect(line(e)).toBe('451 4.4.1 upstream: Too many connections');
    expect(peer.connections).toBe(1);
    expect(peer.received).toHaveLength(0);
  });
});

describe('upstream reply table', () => {
  const err = (init: Omit<UpstreamErrorInit, 'message'>) => new UpstreamError({ message: 'test', ...init });

  it.each([
    ['connect refused', { kind: 'connect', stage: 'connect' }, '451 4.4.1 Upstream relay is unreachable; try again later'],
    ['421 greeting', { kind: 'connect', stage: 'connect', responseCode: 421, response: '421 4.3.2 Too busy' }, '451 4.4.1 upstream: Too busy'],
    [
      '554 greeting',
      { kind: 'connect', stage: 'connect', responseCode: 554, response: '554 No SMTP service here' },
      '451 4.4.1 Upstream relay is unreachable; try again later',
    ],
    ['TLS failure', { kind: 'tls', stage: 'connect' }, /^451 4\.4\.1 .*TLS/],
    [
      'TLS pin mismatch',
      { kind: 'tls-pin', stage: 'connect' },
      '451 4.7.5 Upstream certificate does not match upstream.tls.fingerprint256; nothing was relayed, try again later',
    ],
    ['auth failure', { kind: 'auth', stage: 'connect', responseCode: 535, response: '535 5.7.8 bad' }, /^451 4\.4\.1 /],
    ['timeout while connecting', { kind: 'timeout', stage: 'connect' }, /^451 4\.4\.1 /],
    ['closed before DATA', { kind: 'dropped', stage: 'envelope' }, '451 4.4.1 Upstream relay is unreachable; try again later'],
    ['timeout before DATA', { kind: 'timeout', stage: 'envelope' }, /^451 4\.4\.1 /],
    ['closed after the dot', { kind: 'dropped', stage: 'data' }, /^451 4\.4\.2 .*delivered twice/],
    ['timeout after the dot', { kind: 'timeout', stage: 'data' }, /^451 4\.4\.2 .*delivered twice/],
    ['4xx with enhanced code', { kind: 'transient', stage: 'data', responseCode: 450, response: '450 4.2.0 Mailbox busy' }, '450 4.2.0 upstream: Mailbox busy'],
    ['4xx without enhanced code', { kind: 'transient', stage: 'envelope', responseCode: 451, response: '451 Local error' }, '451 4.0.0 upstream: Local error'],
    ['4xx with a 5.x.x enhanced code', { kind: 'transient', stage: 'data', responseCode: 450, response: '450 5.1.1 odd' }, '450 4.0.0 upstream: 5.1.1 odd'],
    ['421 anywhere', { kind: 'transient', stage: 'envelope', responseCode: 421, response: '421 4.7.0 Try later' }, '451 4.4.1 upstream: Try later'],
    [
      '503 out of step',
      { kind: 'transient', stage: 'envelope', responseCode: 503, response: '503 5.5.1 Error: nested MAIL command' },
      '451 4.5.0 upstream: Error: nested MAIL command',
    ],
    ['5xx with enhanced code', { kind: 'permanent', stage: 'data', responseCode: 554, response: '554 5.7.1 Spam' }, '554 5.7.1 upstream: Spam'],
    ['5xx without enhanced code', { kind: 'permanent', stage: 'envelope', responseCode: 550, response: '550 Rejected' }, '550 5.0.0 upstream: Rejected'],
    [
      'multiline 5xx',
      { kind: 'permanent', stage: 'data', responseCode: 550, response: '550-5.7.1 first line\n550 5.7.1 second line' },
      '550 5.7.1 upstream: first line second line',
    ],
    [
      'control characters are removed',
      { kind: 'permanent', stage: 'data', responseCode: 550, response: '550 5.7.1 bad\r\n250 fake' },
      '550 5.7.1 upstream: bad fake',
    ],
  ] as const)('%s', (_name, init, expected) => {
    const reply = line(err(init as Omit<UpstreamErrorInit, 'message'>));
    if (typeof expected === 'string') expect(reply).toBe(expected);
    else expect(reply).toMatch(expected);
  });

  it('accept replies keep the upstream enhanced code and text', () => {
    expect(formatReply(replyForUpstreamAccept('250 2.6.0 Ok: queued as ABC123'))).toBe('250 2.6.0 upstream: Ok: queued as ABC123');
    expect(formatReply(replyForUpstreamAccept('250 Ok'))).toBe('250 2.0.0 upstream: Ok');
    expect(formatReply(replyForUpstreamAccept('250 2.0.0 Ok\r\n550 injected'))).toBe('250 2.0.0 upstream: Ok injected');
  });

  it('parses upstream responses', () => {
    expect(parseUpstreamResponse('451 4.7.1 Greylisted')).toEqual({ code: 451, enhanced: '4.7.1', text: 'Greylisted' });
    expect(parseUpstreamResponse('250 Ok')).toEqual({ code: 250, enhanced: undefined, text: 'Ok' });
  });

  it('classifies nodemailer errors by code, not by message text', () => {
    const e = (props: Record<string, unknown>) => Object.assign(new Error('whatever text'), props);
    expect(classifyUpstreamFailure(e({ code: 'ESOCKET', originalCode: 'ECONNREFUSED', command: 'CONN' }), 'connect')).toMatchObject({
      kind: 'connect',
      metricClass: 'connect',
    });
    expect(classifyUpstreamFailure(e({ code: 'ESOCKET', originalCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'connect').kind).toBe('tls');
    expect(classifyUpstreamFailure(e({ code: 'ETLS', responseCode: 502, response: '502 5.5.1 no' }), 'connect').kind).toBe('tls');
    expect(classifyUpstreamFailure(e({ code: 'ESOCKET', originalCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), 'connect').message).toMatch(
      /^upstream certificate is not trusted .*upstream\.tls\.ca/,
    );
    expect(classifyUpstreamFailure(e({ code: 'ESOCKET', originalCode: 'ERR_TLS_CERT_ALTNAME_INVALID' }), 'connect').message).toMatch(
      /upstream\.tls\.servername/,
    );
    expect(classifyUpstreamFailure(e({ code: 'ESOCKET', originalCode: 'ERR_MAILGUARD_TLS_PIN_MISMATCH' }), 'connect')).toMatchObject({
      kind: 'tls-pin',
      metricClass: 'connect',
      message: 'whatever text',
    });
    expect(classifyUpstreamFailure(e({ code: 'EAUTH', responseCode: 535 }), 'connect').kind).toBe('auth');
    expect(classifyUpstreamFailure(e({ code: 'EDNS', originalCode: 'ENOTFOUND' }), 'connect').kind).toBe('connect');
    expect(classifyUpstreamFailure(e({ code: 'ETIMEDOUT' }), 'data')).toMatchObject({ kind: 'timeout', stage: 'data', possiblyDelivered: true });
    expect(classifyUpstreamFailure(e({ code: 'ECONNECTION' }), 'envelope')).toMatchObject({ kind: 'dropped', possiblyDelivered: false });
    expect(classifyUpstreamFailure(e({ code: 'EPROTOCOL', responseCode: 250 }), 'data').kind).toBe('dropped');
    expect(classifyUpstreamFailure(e({ code: 'EMESSAGE', responseCode: 552, response: '552 5.3.4 too big', command: 'DATA' }), 'data')).toMatchObject({
      kind: 'permanent',
      stage: 'data',
      metricClass: '5xx',
    });
    expect(classifyUpstreamFailure(e({ code: 'EMESSAGE', command: 'MAIL FROM' }), 'envelope')).toMatchObject({ kind: 'permanent', responseCode: 552 });
    expect(classifyUpstreamFailure(e({ code: 'EENVELOPE', responseCode: 451, response: '451 4.3.0 later', command: 'MAIL FROM' }), 'envelope')).toMatchObject({
      kind: 'transient',
      metricClass: '4xx',
    });
    expect(classifyUpstreamFailure(e({ code: 'ECONNECTION', responseCode: 421, response: '421 bye' }), 'envelope')).toMatchObject({
      kind: 'transient',
      responseCode: 421,
    });
  });
});
