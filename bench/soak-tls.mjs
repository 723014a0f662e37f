// TLS material for the soak's STARTTLS sessions: the test CA and localhost
// certificate in test/fixtures/tls, the files TEST_TLS (test/helpers/test-tls.ts)
// reads too (a private "mail-guard test CA", EC P-256, valid until 2126). mail-guard
// serves key/cert (written to files, as smtp.tls wants paths); the soak client
// verifies the server against ca, so a broken STARTTLS cannot pass unnoticed.
// Test material only: the private key is public.

import { readFileSync } from 'node:fs';

const FIXTURES = new URL('../test/fixtures/tls/', import.meta.url);

export const SOAK_TLS = {
  servername: 'localhost',
  ca: readFileSync(new URL('localhost-ca.pem', FIXTURES), 'utf8'),
  cert: readFileSync(new URL('localhost-cert.pem', FIXTURES), 'utf8'),
  key: readFileSync(new URL('localhost-key.pem', FIXTURES), 'utf8'),
};
