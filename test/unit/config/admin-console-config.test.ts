import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../../src/config/load.js';
import { printableConfig } from '../../../src/config/print.js';

const HASH = createHash('sha256').update('alice-token').digest('hex');
const SECRET = 'x'.repeat(40);

const errorOf = (yaml: string): string => {
  try {
    parseConfigText(yaml, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('admin.sessionSecret and admin.tls', () => {
  it('are optional, and the secret is masked when the config is printed', () => {
    expect(parseConfigText('').admin.sessionSecret).toBeUndefined();
    const config = parseConfigText(
      `admin: { sessionSecret: "${SECRET}", tokens: [{ name: a, role: reviewer, tokenSha256: "${HASH}" }], tls: { key: k.pem, cert: c.pem } }`,
    );
    expect(config.admin.sessionSecret).toBe(SECRET);
    expect(config.admin.tls).toEqual({ key: 'k.pem', cert: 'c.pem' });
    expect(printableConfig(config)).not.toContain(SECRET);
  });

  it('name the key when they cannot work', () => {
    expect(errorOf('admin: { sessionSecret: short }')).toMatch(/admin\.sessionSecret.*at least 32 characters/);
    expect(errorOf(`admin: { sessionSecret: "${SECRET}" }`)).toMatch(/admin\.sessionSecret.*nobody can sign in/);
    const tokenAsSecret = createHash('sha256').update(SECRET).digest('hex');
    expect(errorOf(`admin: { sessionSecret: "${SECRET}", tokens: [{ name: a, role: reviewer, tokenSha256: "${tokenAsSecret}" }] }`)).toMatch(
      /admin\.sessionSecret.*one of the admin tokens/,
    );
    expect(errorOf('admin: { tls: { key: same.pem, cert: same.pem } }')).toMatch(/admin\.tls\.cert.*same file/);
    expect(errorOf('admin: { tls: { key: k.pem } }')).toMatch(/admin\.tls\.cert/);
  });
});
