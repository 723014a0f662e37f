// Issue 9 item 3: a faithful hop carries every ESMTP parameter of the
// transaction, per copy when split, or refuses with the matching code instead
// of sending the message as if it were plain 7-bit mail. Asserted on what a
// real recording upstream parsed from the MAIL FROM and RCPT TO it received.
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { UpstreamPool } from '../../src/upstream/pool.js';
import { RELAY_TLS, TEST_TLS, writeTempPem } from '../helpers/test-tls.js';
import { startRecordingUpstream, type RecordingUpstreamOptions } from '../helpers/recording-upstream.js';
import { TestSmtpClient } from '../helpers/smtp-client.js';
import { startMailGuard } from '../helpers/start-mail-guard.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(action: 'reject' | 'split', upstreamOptions: RecordingUpstreamOptions = {}) {
  const upstream = await startRecordingUpstream(upstreamOptions);
  cleanups.push(() => upstream.close());
  const guard = await startMailGuard({
    upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 2 },
    internalDomains: ['example.co.jp'],
    policy: { action },
  });
  cleanups.push(() => guard.stop());
  return { upstream, guard };
}

async function send(port: number, mailFrom: string, rcptTo: string[], message: string | Buffer, params: Parameters<TestSmtpClient['send']>[3]) {
  const { client } = await TestSmtpClient.open(port);
  await client.command('EHLO mailer.test');
  const result = await client.send(mailFrom, rcptTo, message, params);
  await client.quit();
  return result;
}

const clean = ['From: news@example.co.jp', 'To: undisclosed-recipients:;', 'Subject: params', '', 'ünïcödé body', ''].join('\r\n');
const members = ['From: news@example.co.jp', 'To: a@ext1.com, b@ext2.com', 'Subject: params', '', 'body', ''].join('\r\n');
const DSN = {
  mail: 'BODY=8BITMIME RET=HDRS ENVID=campaign+2B42',
  rcpt: { 'a@ext1.com': 'NOTIFY=FAILURE,DELAY ORCPT=rfc822;a@ext1.com', 'b@ext2.com': 'NOTIFY=NEVER' },
};

describe('ESMTP parameters reach the upstream', () => {
  it('BODY, RET, ENVID on MAIL FROM; each recipient keeps its own NOTIFY and ORCPT (one transaction)', async () => {
    const { upstream, guard } = await start('reject');
    const result = await send(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], clean, DSN);
    expect(result.final).toMatch(/^250 /);
    const tx = upstream.messages[0]!;
    expect(tx.mailParams).toMatchObject({ BODY: '8BITMIME', RET: 'HDRS', ENVID: 'campaign+42' });
    expect(tx.rcptParams['a@ext1.com']).toEqual({ NOTIFY: 'FAILURE,DELAY', ORCPT: 'rfc822;a@ext1.com' });
    expect(tx.rcptParams['b@ext2.com']).toEqual({ NOTIFY: 'NEVER' });
  });

  it("split: every copy carries the transaction's MAIL parameters and its own recipient's", async () => {
    const { upstream, guard } = await start('split');
    expect((await send(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], members, DSN)).final).toMatch(/^250 /);
    expect(upstream.messages).toHaveLength(2);
    for (const copy of upstream.messages) {
      expect(copy.mailParams).toMatchObject({ BODY: '8BITMIME', RET: 'HDRS', ENVID: 'campaign+42' });
      const own = copy.rcptTo[0]!;
      expect(Object.keys(copy.rcptParams)).toEqual([own]);
    }
    const byRecipient = Object.fromEntries(upstream.messages.map((m) => [m.rcptTo[0]!, m.rcptParams[m.rcptTo[0]!]]));
    expect(byRecipient).toEqual({ 'a@ext1.com': { NOTIFY: 'FAILURE,DELAY', ORCPT: 'rfc822;a@ext1.com' }, 'b@ext2.com': { NOTIFY: 'NEVER' } });
  });

  it('SMTPUTF8 goes with a non-ASCII address', async () => {
    const { upstream, guard } = await start('reject');
    const result = await send(guard.smtpPort, 'news@example.co.jp', ['用户@例え.jp'], clean, { mail: 'SMTPUTF8 BODY=8BITMIME' });
    expect(result.final).toMatch(/^250 /);
    expect(upstream.messages[0]!.mailParams).toMatchObject({ SMTPUTF8: true, BODY: '8BITMIME' });
    expect(upstream.messages[0]!.rcptTo).toEqual(['用户@例え.jp']);
  });
});

describe('an upstream with and without DSN and REQUIRETLS', () => {
  it('an upstream without DSN gets the message without DSN parameters (they cannot be carried further)', async () => {
    const { upstream, guard } = await start('reject', { hide: { dsn: true } });
    expect((await send(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com', 'b@ext2.com'], clean, DSN)).final).toMatch(/^250 /);
    expect(upstream.messages[0]!.mailParams).toEqual({ BODY: '8BITMIME' });
    expect(upstream.messages[0]!.rcptParams).toEqual({ 'a@ext1.com': {}, 'b@ext2.com': {} });
  });

  it('REQUIRETLS reaches a relay over verified TLS that offers it', async () => {
    const upstream = await startRecordingUpstream({ tls: { key: RELAY_TLS.key, cert: RELAY_TLS.cert } });
    cleanups.push(() => upstream.close());
    const tls = { key: await writeTempPem(TEST_TLS.key, 'key.pem'), cert: await writeTempPem(TEST_TLS.cert, 'cert.pem') };
    const guard = await startMailGuard({
      smtp: { tls },
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: true, tls: { ca: await writeTempPem(RELAY_TLS.ca), servername: RELAY_TLS.servername } },
      internalDomains: ['example.co.jp'],
      policy: { action: 'reject' },
    });
    cleanups.push(() => guard.stop());
    const { client } = await TestSmtpClient.open(guard.smtpPort);
    await client.command('EHLO mailer.test');
    await client.starttls(TEST_TLS.ca);
    await client.command('EHLO mailer.test');
    const result = await client.send('news@example.co.jp', ['a@ext1.com'], clean, { mail: 'REQUIRETLS' });
    await client.quit();
    expect(result.final).toMatch(/^250 /);
    expect(upstream.messages[0]!.mailParams).toMatchObject({ REQUIRETLS: true });
  });
});

describe("mail-guard's own sends (a release, a delivery report) declare what their bytes need", () => {
  it('BODY=8BITMIME for 8-bit bytes when no mailer declared anything; nothing for 7-bit', async () => {
    const upstream = await startRecordingUpstream();
    cleanups.push(() => upstream.close());
    const config = configSchema.parse({ upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 1 } }).upstream!;
    const pool = new UpstreamPool(config, { connectTimeoutMs: 5000, dataTimeoutMs: 5000 });
    cleanups.push(() => pool.close(1000));
    await pool.send({ mailFrom: 'news@example.co.jp', rcptTo: ['a@ext1.com'] }, [Buffer.from(clean, 'utf8')]);
    await pool.send({ mailFrom: 'news@example.co.jp', rcptTo: ['a@ext1.com'] }, [Buffer.from(clean.replace('ünïcödé', 'plain'), 'utf8')]);
    expect(upstream.messages.map((m) => m.mailParams['BODY'] ?? null)).toEqual(['8BITMIME', null]);
  });
});

describe('an upstream without the extension the message needs', () => {
  it('8-bit body, no 8BITMIME upstream: 554 5.6.3, nothing sent', async () => {
    const { upstream, guard } = await start('reject', { hide: { eightBitMime: true } });
    const result = await send(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com'], clean, { mail: 'BODY=8BITMIME' });
    expect(result.final).toMatch(/^554 5\.6\.3 upstream: The upstream relay does not accept 8-bit data/);
    expect(upstream.transactions).toBe(0);
    // 8-bit bytes without BODY=8BITMIME are 8-bit too.
    expect((await send(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com'], clean, {})).final).toMatch(/^554 5\.6\.3 /);
    // A 7-bit message still goes.
    expect((await send(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com'], clean.replace('ünïcödé', 'plain'), {})).final).toMatch(/^250 /);
  });

  it('non-ASCII address, no SMTPUTF8 upstream: 553 5.6.7, nothing sent', async () => {
    const { upstream, guard } = await start('reject', { hide: { smtputf8: true } });
    const result = await send(guard.smtpPort, 'news@example.co.jp', ['用户@例え.jp'], clean.replace('ünïcödé', 'plain'), { mail: 'SMTPUTF8' });
    expect(result.final).toMatch(/^553 5\.6\.7 /);
    expect(upstream.transactions).toBe(0);
  });

  it('REQUIRETLS: offered after STARTTLS only; to an upstream without verified TLS it is 550 5.7.30, nothing sent', async () => {
    const upstream = await startRecordingUpstream();
    cleanups.push(() => upstream.close());
    const tls = { key: await writeTempPem(TEST_TLS.key, 'key.pem'), cert: await writeTempPem(TEST_TLS.cert, 'cert.pem') };
    const guard = await startMailGuard({
      smtp: { tls },
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      policy: { action: 'reject' },
    });
    cleanups.push(() => guard.stop());
    const { client } = await TestSmtpClient.open(guard.smtpPort);
    const ehlo = async () => {
      client.writeRaw('EHLO mailer.test\r\n');
      return (await client.replyLines()).join('\n');
    };
    expect(await ehlo()).not.toMatch(/REQUIRETLS/);
    expect(await ehlo()).toMatch(/^250-DSN$/m);
    expect(await client.starttls(TEST_TLS.ca)).toMatch(/^220 /);
    expect(await ehlo()).toMatch(/^250-REQUIRETLS$/m);
    const result = await client.send('news@example.co.jp', ['a@ext1.com'], clean, { mail: 'REQUIRETLS' });
    await client.quit();
    expect(result.final).toMatch(/^550 5\.7\.30 upstream: REQUIRETLS: the upstream relay cannot be reached over verified TLS/);
    expect(upstream.transactions).toBe(0);
  });

  it('REQUIRETLS over a plain session to mail-guard is refused by mail-guard itself (not offered without TLS)', async () => {
    const { upstream, guard } = await start('reject');
    const result = await send(guard.smtpPort, 'news@example.co.jp', ['a@ext1.com'], clean, { mail: 'REQUIRETLS' });
    expect(result.final).toMatch(/^5\d\d /);
    expect(upstream.transactions).toBe(0);
  });
});
