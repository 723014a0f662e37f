import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/load.js';
import { readSmtpTls } from '../../../src/smtp/smtp-tls.js';
import { RELAY_TLS, TEST_TLS } from '../../helpers/test-tls.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/tls/${name}`, import.meta.url));
const KEY = fixture('localhost-key.pem');
const CERT = fixture('localhost-cert.pem');

const errorOf = (tls: { key: string; cert: string }): string => {
  try {
    readSmtpTls(tls);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('readSmtpTls: the files smtp.tls names (the one smtp check that needs I/O)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mail-guard-smtp-tls-'));
    await writeFile(join(dir, 'other-key.pem'), RELAY_TLS.key);
    await writeFile(join(dir, 'garbage.pem'), 'not a key\n');
  });

  it('reads the key and certificate the listener is given', () => {
    const material = readSmtpTls({ key: KEY, cert: CERT });
    expect(material.key.toString()).toBe(TEST_TLS.key);
    expect(material.cert.toString()).toBe(TEST_TLS.cert);
  });

  it('a file that cannot be read: one line naming smtp.tls.key or smtp.tls.cert', () => {
    const missing = join(dir, 'missing.pem');
    expect(errorOf({ key: missing, cert: CERT })).toBe(`smtp.tls.key: cannot read ${missing}: ENOENT`);
    expect(errorOf({ key: KEY, cert: missing })).toBe(`smtp.tls.cert: cannot read ${missing}: ENOENT`);
  });

  it('a key that is no key, or one that does not go with the certificate: one line naming smtp.tls', () => {
    for (const key of [join(dir, 'garbage.pem'), join(dir, 'other-key.pem')]) {
      const message = errorOf({ key, cert: CERT });
      expect(message.startsWith(`smtp.tls: ${key} and ${CERT} do not make a TLS key and certificate pair (`)).toBe(true);
      expect(message).not.toContain('\n');
    }
  });
});
