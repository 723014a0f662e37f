// upstream.tls against a real TLS relay on 127.0.0.1 whose certificate a private CA
// signed for relay.mail-guard.test only: what the mailer hears, what the relay
// received, and why the log says it failed.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';
import { RELAY_TLS, RELAY_TLS_FINGERPRINT256, writeTempPem } from '../helpers/test-tls.js';

const message = ['From: app@example.co.jp', 'To: a@ext1.com', 'Subject: tls', '', 'body', ''].join('\r\n');
const WRONG_PIN = Array.from({ length: 32 }, (_, i) => (i * 7 + 1).toString(16).padStart(2, '0').toUpperCase()).join(':');

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

let caPath: string;
beforeAll(async () => {
  caPath = await writeTempPem(RELAY_TLS.ca);
});

async function relay(implicit = false): Promise<RecordingUpstream> {
  const upstream = await startRecordingUpstream({ tls: { key: RELAY_TLS.key, cert: RELAY_TLS.cert }, secure: implicit });
  stops.push(() => upstream.close());
  return upstream;
}

async function guardFor(upstream: RecordingUpstream, settings: Record<string, unknown>): Promise<RunningMailGuard> {
  const guard = await startMailGuard({
    upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: true, pool: 1, connectTimeoutSeconds: 5, ...settings },
    internalDomains: ['example.co.jp'],
  });
  stops.push(() => guard.stop());
  return guard;
}

const send = (guard: RunningMailGuard) => sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@ext1.com'], message);
const deferredLine = (guard: RunningMailGuard) => guard.logs.find((l) => l['msg'] === 'message deferred');

describe('upstream.tls with STARTTLS (requireTLS)', () => {
  it('(a) with upstream.tls.ca and servername the relay is trusted and the message delivered', async () => {
    const upstream = await relay();
    const guard = await guardFor(upstream, { tls: { ca: caPath, servername: RELAY_TLS.servername } });
    expect((await send(guard)).final).toMatch(/^250 2\.0\.0 upstream: Ok: queued as R1 \[/);
    expect(upstream.messages).toHaveLength(1);
    expect(upstream.messages[0]!.rcptTo).toEqual(['a@ext1.com']);
  });

  it('(b) without the CA it fails closed: 451, nothing relayed, the log says to set upstream.tls.ca', async () => {
    const upstream = await relay();
    const guard = await guardFor(upstream, { tls: { servername: RELAY_TLS.servername } });
    expect((await send(guard)).final).toMatch(/^451 4\.4\.1 .*TLS/);
    expect(upstream.transactions).toBe(0);
    expect(upstream.received).toHaveLength(0);
    expect((deferredLine(guard)?.['upstream'] as { text?: string } | undefined)?.text).toMatch(
      /^upstream certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): .*upstream\.tls\.ca/,
    );
  });

  it('with the CA but without servername the name check fails closed and the log says to set upstream.tls.servername', async () => {
    const upstream = await relay();
    const guard = await guardFor(upstream, { tls: { ca: caPath } });
    expect((await send(guard)).final).toMatch(/^451 4\.4\.1 /);
    expect(upstream.transactions).toBe(0);
    expect((deferredLine(guard)?.['upstream'] as { text?: string } | undefined)?.text).toMatch(
      /not valid for the name .*127\.0\.0\.1.*upstream\.tls\.servername/,
    );
  });

  it('(c) a wrong fingerprint256 fails closed with the pin reason although the chain verifies', async () => {
    const upstream = await relay();
    const guard = await guardFor(upstream, { tls: { ca: caPath, servername: RELAY_TLS.servername, fingerprint256: WRONG_PIN } });
    expect((await send(guard)).final).toMatch(
      /^451 4\.7\.5 Upstream certificate does not match upstream\.tls\.fingerprint256; nothing was relayed, try again later \[/,
    );
    expect(upstream.transactions).toBe(0);
    expect(upstream.received).toHaveLength(0);
    const reason = (deferredLine(guard)?.['upstream'] as { text?: string } | undefined)?.text;
    expect(reason).toMatch(/^upstream certificate does not match upstream\.tls\.fingerprint256/);
    expect(reason).toContain(RELAY_TLS_FINGERPRINT256);
  });

  it('(d) the right fingerprint256 (any case) delivers', async () => {
    const upstream = await relay();
    const guard = await guardFor(upstream, { tls: { ca: caPath, servername: RELAY_TLS.servername, fingerprint256: RELAY_TLS_FINGERPRINT256.toLowerCase() } });
    expect((await send(guard)).final).toMatch(/^250 /);
    expect(upstream.messages).toHaveLength(1);
  });

  it('the right pin does not stand in for the chain: without the CA it still fails as untrusted', async () => {
    const upstream = await relay();
    const guard = await guardFor(upstream, { tls: { servername: RELAY_TLS.servername, fingerprint256: RELAY_TLS_FINGERPRINT256 } });
    expect((await send(guard)).final).toMatch(/^451 4\.4\.1 /);
    expect(upstream.transactions).toBe(0);
    expect((deferredLine(guard)?.['upstream'] as { text?: string } | undefined)?.text).toMatch(/^upstream certificate is not trusted/);
  });

  it('nor for the name: the right pin with a certificate not for the name checked still fails closed', async () => {
    const upstream = await relay();
    const guard = await guardFor(upstream, { tls: { ca: caPath, fingerprint256: RELAY_TLS_FINGERPRINT256 } });
    expect((await send(guard)).final).toMatch(/^451 4\.4\.1 /);
    expect(upstream.transactions).toBe(0);
    expect((deferredLine(guard)?.['upstream'] as { text?: string } | undefined)?.text).toMatch(/upstream\.tls\.servername/);
  });

  it('minVersion TLSv1.3 is what the session is held to: a relay that stops at TLS 1.2 fails closed', async () => {
    const capped = await startRecordingUpstream({ tls: { key: RELAY_TLS.key, cert: RELAY_TLS.cert }, tlsMaxVersion: 'TLSv1.2' });
    stops.push(() => capped.close());
    const guard = await guardFor(capped, { tls: { ca: caPath, servername: RELAY_TLS.servername, minVersion: 'TLSv1.3' } });
    expect((await send(guard)).final).toMatch(/^451 4\.4\.1 /);
    expect(capped.transactions).toBe(0);
    expect((deferredLine(guard)?.['upstream'] as { text?: string } | undefined)?.text).toMatch(/upstream\.tls\.minVersion/);
  });
});

describe('upstream.tls with implicit TLS (secure: true)', () => {
  it('(e) with the CA and servername the message is delivered', async () => {
    const upstream = await relay(true);
    const guard = await guardFor(upstream, { secure: true, requireTLS: false, tls: { ca: caPath, servername: RELAY_TLS.servername } });
    expect((await send(guard)).final).toMatch(/^250 /);
    expect(upstream.messages).toHaveLength(1);
  });

  it('without the CA, or with a wrong pin, nothing is relayed', async () => {
    const upstream = await relay(true);
    const untrusted = await guardFor(upstream, { secure: true, requireTLS: false, tls: { servername: RELAY_TLS.servername } });
    expect((await send(untrusted)).final).toMatch(/^451 4\.4\.1 /);
    const pinned = await guardFor(upstream, {
      secure: true,
      requireTLS: false,
      tls: { ca: caPath, servername: RELAY_TLS.servername, fingerprint256: WRONG_PIN },
    });
    expect((await send(pinned)).final).toMatch(/^451 4\.7\.5 /);
    expect(upstream.transactions).toBe(0);
  });
});
