import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A private CA and a server certificate for localhost / 127.0.0.1 (valid until 2126),
// for TLS tests: serve with TEST_TLS.key/cert, trust with { ca: TEST_TLS.ca }. The
// PEM files are in test/fixtures/tls, where the soak (bench/soak-tls.mjs) reads them too.
// Test material only: the private key is public.

const FIXTURES = new URL('../fixtures/tls/', import.meta.url);

export const TEST_TLS = {
  ca: readFileSync(new URL('localhost-ca.pem', FIXTURES), 'utf8'),
  cert: readFileSync(new URL('localhost-cert.pem', FIXTURES), 'utf8'),
  key: readFileSync(new URL('localhost-key.pem', FIXTURES), 'utf8'),
} as const;

// A second private CA, "mail-guard relay test CA", and a relay certificate it signed
// for the name relay.mail-guard.test only (no IP address, no localhost): a client
// that dials 127.0.0.1 verifies it only with upstream.tls.servername, and only
// when upstream.tls.ca adds this CA. Made once with openssl (EC P-256, valid until
// 2126); test material only, the private key is public.
export const RELAY_TLS = {
  servername: 'relay.mail-guard.test',
  ca: `-----BEGIN CERTIFICATE-----
MIIBrTCCAVOgAwIBAgIUYXYqP1gDH7VF4cGpLJTecV16N2YwCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYbWFpbC1ndWFyZCByZWxheSB0ZXN0IENBMCAXDTI2MTIwMTIw
MDMyMVoYDzIxMjYxMTA3MjAwMzIxWjAjMSEwHwYDVQQDDBhtYWlsLWd1YXJkIHJl
bGF5IHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASYtPhLnA9xmZdQ
VYWHFOJVQaq0Fm8yXqdvkYaXB8+RKe9fniqpOTjP29fbnFPzLhNGo4xbP8fP3mfo
EEF2ISAyo2MwYTAdBgNVHQ4EFgQU8EcHw4KBUKr18Wi+YjmYbAJM48gwHwYDVR0j
BBgwFoAU8EcHw4KBUKr18Wi+YjmYbAJM48gwDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwIDSAAwRQIhAPiVOEdhdVqk37RoFIK4ZNnu
beahehFryB3NrMq2P/g2AiB4MGrGBTvOHHQXoHjk/7mnHXtiaDQf8wsZQA+fXa3k
Ww==
-----END CERTIFICATE-----`,
  cert: `-----BEGIN CERTIFICATE-----
MIIB2jCCAYCgAwIBAgIUJ3oCG8Fk6Uih5Ry50LA8chkJKNkwCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYbWFpbC1ndWFyZCByZWxheSB0ZXN0IENBMCAXDTI2MTIwMTIw
MDMyMVoYDzIxMjYxMTA3MjAwMzIxWjAgMR4wHAYDVQQDDBVyZWxheS5tYWlsLWd1
YXJkLnRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQEGIxg6VHllJkYkKQl
icjLqIX6+5ZXcqx5r5iU1ch7SYn0SX5U9aIiUDmy1TjWfuRwcV3PKUkzHvLKasfB
E9Ubo4GSMIGPMCAGA1UdEQQZMBeCFXJlbGF5Lm1haWwtZ3VhcmQudGVzdDAJBgNV
HRMEAjAAMAsGA1UdDwQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4E
FgQUFfCjwQ+qob9wmYzzohdTshPTu2kwHwYDVR0jBBgwFoAU8EcHw4KBUKr18Wi+
YjmYbAJM48gwCgYIKoZIzj0EAwIDSAAwRQIgZoEKwM9SymBoEvQecb/He+GFf5pj
WqfMhAQlHE+Ydd0CIQCphxZQmGHCiMaSCzhvbOEedms063gLzchh4t5QCgrOWw==
-----END CERTIFICATE-----`,
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4OBZVEo2Je0FOZMT
ACqf6hYnyp4mgMjHJaBY5l68k46hRANCAAQEGIxg6VHllJkYkKQlicjLqIX6+5ZX
cqx5r5iU1ch7SYn0SX5U9aIiUDmy1TjWfuRwcV3PKUkzHvLKasfBE9Ub
-----END PRIVATE KEY-----`,
} as const;

/** SHA-256 fingerprint of RELAY_TLS.cert as Node prints it (AB:CD:…), i.e. the right upstream.tls.fingerprint256. */
export const RELAY_TLS_FINGERPRINT256 = new X509Certificate(RELAY_TLS.cert).fingerprint256;

/** Writes a PEM to a fresh temporary file (for upstream.tls.ca) and returns its path. */
export async function writeTempPem(pem: string, name = 'ca.pem'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mail-guard-tls-'));
  const path = join(dir, name);
  await writeFile(path, pem + '\n');
  return path;
}
