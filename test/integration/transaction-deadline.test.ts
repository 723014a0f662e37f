// DESIGN.md "Envelope fidelity" / THREATS.md: a mailer told 421 at the
// transaction deadline gets nothing of that transaction delivered afterwards
// (its retry would send it twice), over real sockets with a slow upstream that
// holds a reply until the test lets it go.
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { UpstreamPool } from '../../src/upstream/pool.js';
import { UpstreamError } from '../../src/upstream/upstream-error.js';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';
import { startScriptedUpstream, type ScriptedUpstream, type ScriptedUpstreamOptions } from '../helpers/scripted-upstream.js';
import { sendOnce, TestSmtpClient } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';
import { within } from '../helpers/within.js';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function scripted(options: ScriptedUpstreamOptions): Promise<ScriptedUpstream> {
  const upstream = await startScriptedUpstream(options);
  stops.push(() => upstream.close());
  return upstream;
}

async function guardFor(port: number, extra: Record<string, unknown> = {}): Promise<RunningMailGuard> {
  const guard = await startMailGuard({
    // The shortest deadline the config allows; the upstream's own timeouts are far longer.
    smtp: { transactionTimeoutSeconds: 1 },
    upstream: { host: '127.0.0.1', port, requireTLS: false, pool: 1, dataTimeoutSeconds: 30 },
    internalDomains: ['example.co.jp'],
    ...extra,
  });
  stops.push(() => guard.stop());
  return guard;
}

/** A gate the upstream waits at; the test opens it once the mailer has had its 421. */
function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** MAIL … the dot on one session; returns the reply to the dot and the client (the connection is closed after a 421). */
async function sendUntilReply(port: number, rcptTo: readonly string[], message: string): Promise<string> {
  const { client } = await TestSmtpClient.open(port);
  await client.command('EHLO mailer.test');
  const { final } = await client.send('news@example.co.jp', rcptTo, message);
  expect(await client.reply()).toBe('(connection closed)');
  client.close();
  return final;
}

const messageLine = (l: Record<string, unknown>) => typeof l['id'] === 'string' && typeof l['reply'] === 'string';

describe('the transaction deadline cancels the work', () => {
  it('a relay still waiting for the upstream when the deadline fires is abandoned before its final dot: nothing arrives after the 421', async () => {
    const slow = gate();
    const upstream = await scripted({ holdReply: (verb) => (verb === 'DATA' ? slow.opened : undefined) });
    const guard = await guardFor(upstream.port);
    const final = await sendUntilReply(guard.smtpPort, ['a@ext1.com'], crlf('From: news@example.co.jp', 'To: a@ext1.com', 'Subject: s', '', 'body', ''));
    expect(final).toMatch(/^421 4\.4\.2 /);
    slow.open();
    // The message's log line is written when mail-guard is done with it, whatever it did.
    const line = await guard.waitForLog(messageLine);
    expect(upstream.received).toHaveLength(0);
    expect(upstream.log.some((l) => l.endsWith(' DATA'))).toBe(true);
    // Cancelled while the upstream still owed its 354: not "possibly delivered".
    expect(line['upstream']).toMatchObject({ kind: 'cancelled', stage: 'envelope' });
    expect((line['upstream'] as Record<string, unknown>)['possiblyDelivered']).toBeUndefined();
    // The upstream session was ended between DATA and the dot: the upstream discards the transaction.
    await upstream.whenClosed(1);
  });

  it('a split at the deadline starts no further copy and abandons the one in flight', async () => {
    const slow = gate();
    const upstream = await scripted({ holdReply: (verb) => (verb === 'DATA' ? slow.opened : undefined) });
    const guard = await guardFor(upstream.port, { policy: { action: 'split' } });
    const envelope = ['a@ext1.com', 'b@ext2.com', 'c@ext3.com'];
    const newsletter = crlf('From: news@example.co.jp', `To: ${envelope.join(', ')}`, 'Subject: n', '', 'hello', '');
    expect(await sendUntilReply(guard.smtpPort, envelope, newsletter)).toMatch(/^421 4\.4\.2 /);
    slow.open();
    await guard.waitForLog(messageLine);
    expect(upstream.transactions).toBe(1);
    expect(upstream.received).toHaveLength(0);
    await upstream.whenClosed(1);
  });

  it('a copy whose dot was already sent is logged as possibly delivered, and the retry does not send it again', async () => {
    const slow = gate();
    let holdDot = true;
    const upstream = await scripted({ holdReply: (verb) => (verb === 'DOT' && holdDot ? slow.opened : undefined) });
    const guard = await guardFor(upstream.port);
    const message = crlf('From: news@example.co.jp', 'To: a@ext1.com', 'Subject: s', 'Message-ID: <once@example.co.jp>', '', 'body', '');
    expect(await sendUntilReply(guard.smtpPort, ['a@ext1.com'], message)).toMatch(/^421 4\.4\.2 /);
    holdDot = false;
    slow.open();
    await guard.waitForLog(messageLine);
    expect(upstream.delivered).toHaveLength(1);
    const warning = guard.logs.find((l) => typeof l['msg'] === 'string' && /possibly delivered/.test(l['msg']));
    expect(warning).toBeDefined();
    expect(JSON.stringify(warning)).not.toContain('ext1.com');
    // The mailer's retry of the same message: the ledger knows the upstream has it.
    const retry = await sendOnce(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com'], message);
    expect(retry.final).toMatch(/^250 2\.0\.0 already accepted upstream on an earlier attempt/);
    expect(upstream.received).toHaveLength(1);
  });
});

describe('the upstream pool honours a cancelled transaction', () => {
  function poolFor(port: number): UpstreamPool {
    const config = configSchema.parse({ upstream: { host: '127.0.0.1', port, requireTLS: false, pool: 1 } }).upstream!;
    const pool = new UpstreamPool(config, { connectTimeoutMs: 5000, dataTimeoutMs: 30_000 });
    stops.push(() => pool.close(1000));
    return pool;
  }
  const envelope = { mailFrom: 'app@corp.example', rcptTo: ['a@ext.example'] };
  const message = Buffer.from('From: app@corp.example\r\nTo: a@ext.example\r\nSubject: s\r\n\r\nHello\r\n');
  const cancelledSend = async (sent: Promise<unknown>): Promise<UpstreamError> => {
    const err = await sent.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UpstreamError);
    return err as UpstreamError;
  };

  it('starts no transaction for a signal that already fired', async () => {
    const upstream = await scripted({});
    const pool = poolFor(upstream.port);
    const err = await cancelledSend(pool.send(envelope, message, AbortSignal.abort('the transaction deadline passed')));
    expect(err).toMatchObject({ kind: 'cancelled', possiblyDelivered: false });
    expect(upstream.transactions).toBe(0);
    // The pool is not worse for it.
    await pool.send(envelope, message);
    expect(upstream.delivered).toHaveLength(1);
  });

  it('a send waiting for the only session, cancelled meanwhile, never sends MAIL FROM; the session serves the next one', async () => {
    const slow = gate();
    const upstream = await scripted({ holdReply: (verb) => (verb === 'DOT' ? slow.opened : undefined) });
    const pool = poolFor(upstream.port);
    const first = pool.send(envelope, message);
    await upstream.whenReceived(1);
    const work = new AbortController();
    const waiting = pool.send({ ...envelope, rcptTo: ['b@ext.example'] }, message, work.signal);
    work.abort("the mailer's connection closed");
    slow.open();
    await first;
    expect(await cancelledSend(waiting)).toMatchObject({ kind: 'cancelled' });
    await pool.send({ ...envelope, rcptTo: ['c@ext.example'] }, message);
    expect(upstream.received.map((m) => m.rcptTo[0])).toEqual(['a@ext.example', 'c@ext.example']);
    expect(upstream.transactions).toBe(2);
  });

  it('cancelled between MAIL FROM and the dot: the session is ended, nothing is received, and the slot is free again', async () => {
    const slow = gate();
    let hold = true;
    const upstream = await scripted({ holdReply: (verb) => (verb === 'RCPT' && hold ? slow.opened : undefined) });
    const pool = poolFor(upstream.port);
    const work = new AbortController();
    const sent = pool.send(envelope, message, work.signal);
    await upstream.whenLogged((l) => l.includes('RCPT TO:'));
    work.abort('the transaction deadline passed');
    expect(await cancelledSend(sent)).toMatchObject({ kind: 'cancelled', stage: 'envelope' });
    await upstream.whenClosed(1);
    hold = false;
    slow.open();
    expect(upstream.received).toHaveLength(0);
    await pool.send(envelope, message);
    expect(upstream.delivered).toHaveLength(1);
  });
});

describe('a transaction ends where the mailer ends it', () => {
  it('RSET (and EHLO) end the transaction deadline: a session that idles afterwards is not told 421', async () => {
    const upstream = await scripted({});
    // A deadline of 1 s and a socket timeout far beyond the wait below.
    const guard = await guardFor(upstream.port, { smtp: { transactionTimeoutSeconds: 1, socketTimeoutSeconds: 30 } });
    const session = async () => {
      const { client } = await TestSmtpClient.open(guard.smtpPort);
      expect(await client.command('EHLO mailer.test')).toMatch(/^250 /);
      return client;
    };
    const reset = await session();
    expect(await reset.command('MAIL FROM:<news@example.co.jp>')).toMatch(/^250 /);
    expect(await reset.command('RCPT TO:<a@ext1.com>')).toMatch(/^250 /);
    expect(await reset.command('RSET')).toMatch(/^250 /);
    // EHLO in the middle of a transaction resets it as well (RFC 5321 4.1.4).
    const ehlo = await session();
    expect(await ehlo.command('MAIL FROM:<news@example.co.jp>')).toMatch(/^250 /);
    expect(await ehlo.command('EHLO mailer.test')).toMatch(/^250 /);
    // A witness: a transaction begun after both, left to run into the same 1 s
    // deadline. Deadlines of one length fire in the order they were set, so
    // when the witness hears its 421, the deadlines of the other two, had RSET
    // and EHLO not ended them, would have fired already and their 421 would be
    // queued ahead of any later reply.
    const witness = await session();
    expect(await witness.command('MAIL FROM:<news@example.co.jp>')).toMatch(/^250 /);
    expect(await within(witness.reply(), 5_000, "the witness transaction's deadline")).toMatch(/^421 4\.4\.2 /);
    witness.close();
    expect(await reset.command('NOOP')).toMatch(/^250 /);
    expect(await ehlo.command('NOOP')).toMatch(/^250 /);
    // And the sessions still carry mail.
    for (const client of [reset, ehlo]) {
      const sent = await client.send('news@example.co.jp', ['a@ext1.com'], crlf('From: news@example.co.jp', 'To: a@ext1.com', '', 'after the reset', ''));
      expect(sent.final).toMatch(/^250 /);
      await client.quit();
    }
    expect(upstream.delivered).toHaveLength(2);
  });

  it('two complete transactions and QUIT written in one segment get both answers and the 221 at once', async () => {
    const upstream = await startRecordingUpstream();
    stops.push(() => upstream.close());
    const guard = await guardFor(upstream.port, { smtp: { socketTimeoutSeconds: 60 } });
    const { client } = await TestSmtpClient.open(guard.smtpPort);
    expect(await client.command('EHLO mailer.test')).toMatch(/^250 /);
    const one = crlf('From: news@example.co.jp', 'To: a@ext1.com', 'Subject: one', '', 'one', '');
    const two = crlf('From: news@example.co.jp', 'To: b@ext2.com', 'Subject: two', '', 'two', '');
    client.writeRaw(
      'MAIL FROM:<news@example.co.jp>\r\nRCPT TO:<a@ext1.com>\r\nDATA\r\n' +
        one +
        '.\r\n' +
        'MAIL FROM:<news@example.co.jp>\r\nRCPT TO:<b@ext2.com>\r\nDATA\r\n' +
        two +
        '.\r\n' +
        'QUIT\r\n',
    );
    const answers: string[] = [];
    // Bounded by the test timeout only: without the fix the 221 waits for the 60 s socket timeout.
    for (let reply = ''; !reply.startsWith('221') && reply !== '(connection closed)';) answers.push((reply = await client.reply()));
    expect(answers.map((r) => r.slice(0, 3))).toEqual(['250', '250', '354', '250', '250', '250', '354', '250', '221']);
    expect(answers[3]).toMatch(/^250 2\.0\.0 upstream: /);
    expect(answers[7]).toMatch(/^250 2\.0\.0 upstream: /);
    expect(upstream.messages.map((m) => m.raw.toString())).toEqual([one, two]);
    client.close();
  }, 20_000);
});
