import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../../src/config/load.js';
import { printableConfig } from '../../../src/config/print.js';
import { upstreamTlsOptions } from '../../../src/upstream/upstream-tls.js';
import { RELAY_TLS, RELAY_TLS_FINGERPRINT256 } from '../../helpers/test-tls.js';

const errorOf = (yaml: string): string => {
  try {
    parseConfigText(yaml, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  it('an empty file gives the safe defaults: loopback, rehearsal mode, quarantine', () => {
    const config = parseConfigText('');
    expect(config.smtp.host).toBe('127.0.0.1');
    expect(config.smtp.port).toBe(2525);
    expect(config.smtp.allowFrom).toEqual(['127.0.0.1/32', '::1/128']);
    expect(config.admin.port).toBe(9025);
    expect(config.upstream).toBeUndefined();
    expect(config.policy).toMatchObject({ maxVisibleExternal: 1, action: 'quarantine', fourEyes: true, maxVisibleExternalDomains: null });
    expect(config.policy.freemailDomains).toContain('gmail.com');
    expect(config.store).toMatchObject({ type: 'file', path: 'var/mail-guard', retentionDays: 30 });
    expect(Object.isFrozen(config.smtp)).toBe(true);
  });

  it.each([
    ['upstream:\n  host: relay\n  port: "587"\n', 'test.yaml: upstream.port: '],
    ['upstrem:\n  host: relay\n', 'test.yaml: upstrem: unknown key'],
    ['smtp:\n  allowFrom: [10.0.0.0/33]\n', 'test.yaml: smtp.allowFrom[0]: expected an IP address or CIDR'],
    ['policy:\n  action: drop\n', 'test.yaml: policy.action: '],
    ['policy:\n  rules:\n    - { name: x, from: a@b, action: split, colour: red }\n', 'test.yaml: policy.rules[0].colour: unknown key'],
    [
      'policy:\n  rules:\n    - { name: x, from: a@b }\n',
      'test.yaml: policy.rules[0]: a rule needs an action, a threshold, a delaySeconds or a content threshold',
    ],
    ['internalDomains: ["*example.com"]\n', 'test.yaml: internalDomains[0]: expected a domain'],
    ['policy:\n  extraHeaders: ["Disposition Notification To"]\n', 'test.yaml: policy.extraHeaders[0]: expected a header field name'],
    ['admin:\n  tokens: [{ name: a, tokenSha256: xyz, role: reviewer }]\n', 'test.yaml: admin.tokens[0].tokenSha256: expected 64 hex'],
    ['store:\n  type: sqlite\n', 'test.yaml: store.type: '],
    ['smtp: [1, 2]\n', 'test.yaml: smtp: '],
    ['smtp:\n  port: 2525\n  port: 2526\n', 'test.yaml: invalid YAML'],
  ])('names the key: %j', (yaml, expected) => {
    const message = errorOf(yaml);
    expect(message.startsWith(expected)).toBe(true);
    expect(message).not.toContain('\n');
  });

  it('prints the effective config with secrets masked', () => {
    const config = parseConfigText(
      'upstream: { host: relay, auth: { user: u, pass: hunter2 } }\nstore: { url: "redis://:s3cret@127.0.0.1:6379" }\nadmin: { tokens: [{ name: a, role: approver, tokenSha256: "' +
        'ab'.repeat(32) +
        '" }] }\n',
    );
    const printed = printableConfig(config);
    expect(printed).not.toContain('hunter2');
    expect(printed).not.toContain('s3cret');
    expect(printed).not.toContain('ab'.repeat(32));
    expect(printed).toContain('user: u');
    expect(printed).toContain('pool: auto');
  });

  it("masks a webhook URL's path and query (a Slack-style webhook URL is its own secret), keeping the host", () => {
    const config = parseConfigText(
      'notify:\n  webhooks:\n    - { url: "https://hooks.slack.com/services/T000/B000/XXXXsecret", format: slack }\n    - { url: "http://127.0.0.1:9999/hook?key=k3y" }\n',
    );
    const printed = printableConfig(config);
    expect(printed).not.toContain('XXXXsecret');
    expect(printed).not.toContain('k3y');
    expect(printed).toContain('url: https://hooks.slack.com/********');
    expect(printed).toContain('url: http://127.0.0.1:9999/********');
    // The Redis URL keeps its database number; only a password would go.
    expect(printableConfig(parseConfigText('store: { url: "redis://:pw@127.0.0.1:6379/2" }\n'))).toContain('url: redis://:********@127.0.0.1:6379/2');
  });
});

describe('config: upstream.tls', () => {
  const PIN = RELAY_TLS_FINGERPRINT256;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mail-guard-config-tls-'));
    await writeFile(join(dir, 'ca.pem'), RELAY_TLS.ca + '\n');
    await writeFile(join(dir, 'empty.pem'), 'not a certificate\n');
    await writeFile(join(dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  });

  const upstream = (tls: string, extra = '') => `upstream:\n  host: 127.0.0.1\n${extra}  tls: ${tls}\n`;
  const tlsErrorOf = (yaml: string): string => {
    try {
      upstreamTlsOptions(parseConfigText(yaml, 'test.yaml').upstream!);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('expected a ConfigError');
  };

  it.each([
    [upstream('{ fingerprint256: "AB:CD" }'), 'test.yaml: upstream.tls.fingerprint256: expected 32 colon-separated hex bytes'],
    [upstream(`{ fingerprint256: "${PIN.replace(/:/g, '')}" }`), 'test.yaml: upstream.tls.fingerprint256: expected 32 colon-separated hex bytes'],
    [upstream(`{ fingerprint256: "${PIN.slice(0, -2)}ZZ" }`), 'test.yaml: upstream.tls.fingerprint256: expected 32 colon-separated hex bytes'],
    [upstream('{ minVersion: TLSv1.1 }'), 'test.yaml: upstream.tls.minVersion: '],
    [upstream('{ servername: 192.0.2.1 }'), 'test.yaml: upstream.tls.servername: expected a DNS name such as relay.example.net, not an IP address'],
    [upstream('{ servername: "relay example" }'), 'test.yaml: upstream.tls.servername: expected a DNS name'],
    [upstream('{ ca: "" }'), 'test.yaml: upstream.tls.ca: '],
    [upstream('{ cafile: /etc/ca.pem }'), 'test.yaml: upstream.tls.cafile: unknown key'],
    [
      upstream(`{ fingerprint256: "${PIN}" }`, '  rejectUnauthorized: false\n'),
      'test.yaml: upstream.tls.fingerprint256: a pin is checked together with certificate verification',
    ],
    [upstream('{ ca: /etc/ca.pem }', '  rejectUnauthorized: false\n'), 'test.yaml: upstream.tls.ca: a CA is of no use with upstream.rejectUnauthorized: false'],
    [upstream(`{ fingerprint256: "${PIN}" }`, '  requireTLS: false\n'), 'test.yaml: upstream.tls.fingerprint256: a pin needs TLS on every connection'],
  ])('names the key: %j', (yaml, expected) => {
    const message = errorOf(yaml);
    expect(message.startsWith(expected)).toBe(true);
    expect(message).not.toContain('\n');
  });

  it('the CA file must exist and hold parseable PEM certificates (checked where the pool is built)', () => {
    expect(tlsErrorOf(upstream(`{ ca: ${join(dir, 'missing.pem')} }`))).toBe(`upstream.tls.ca: cannot read ${join(dir, 'missing.pem')}: ENOENT`);
    expect(tlsErrorOf(upstream(`{ ca: ${join(dir, 'empty.pem')} }`))).toMatch(/^upstream\.tls\.ca: .*empty\.pem holds no PEM certificate/);
    expect(tlsErrorOf(upstream(`{ ca: ${join(dir, 'broken.pem')} }`))).toMatch(/^upstream\.tls\.ca: .*broken\.pem: certificate 1 does not parse/);
  });

  it("the extra CA is added to Node's bundled roots, not instead of them; servername, minVersion and the pin go to tls.connect", () => {
    const config = parseConfigText(
      upstream(`{ ca: ${join(dir, 'ca.pem')}, servername: relay.mail-guard.test, fingerprint256: "${PIN.toLowerCase()}", minVersion: TLSv1.3 }`),
    );
    const options = upstreamTlsOptions(config.upstream!);
    expect(rootCertificates.length).toBeGreaterThan(50);
    expect(options.ca).toEqual([...rootCertificates, RELAY_TLS.ca]);
    expect(options).toMatchObject({ servername: 'relay.mail-guard.test', minVersion: 'TLSv1.3', rejectUnauthorized: true });
    expect(typeof options.checkServerIdentity).toBe('function');
    expect(config.upstream!.tls.fingerprint256).toBe(PIN.toUpperCase());
  });

  it("defaults: minVersion TLSv1.2, Node's roots untouched (no ca option), no pin", () => {
    const config = parseConfigText('upstream: { host: relay.example.net }\n');
    expect(config.upstream!.tls).toEqual({ minVersion: 'TLSv1.2' });
    const options = upstreamTlsOptions(config.upstream!);
    expect(options.ca).toBeUndefined();
    expect(options.checkServerIdentity).toBeUndefined();
    expect(options.minVersion).toBe('TLSv1.2');
  });

  it('config check prints the new keys; the CA path and the pin are not secrets', () => {
    const printed = printableConfig(parseConfigText(upstream(`{ ca: /etc/mail-guard/relay-ca.pem, servername: relay.example.net, fingerprint256: "${PIN}" }`)));
    expect(printed).toContain('ca: /etc/mail-guard/relay-ca.pem');
    expect(printed).toContain('servername: relay.example.net');
    expect(printed).toContain(`fingerprint256: ${PIN}`);
    expect(printed).toContain('minVersion: TLSv1.2');
  });
});

describe('config: checks across keys live in the schema', () => {
  // A well-formed hash (16-byte salt, 32-byte key): the schema parses it, no scrypt runs.
  const HASH = 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=';
  const TLS = 'tls: { key: /etc/mail-guard/key.pem, cert: /etc/mail-guard/cert.pem }';
  const user = (name: string, hash = HASH) => `{ name: ${name}, passwordHash: "${hash}" }`;

  it.each([
    [
      `smtp:\n  auth: { required: true }\n  ${TLS}\n`,
      'test.yaml: smtp.auth.required: no users in smtp.auth.users, so no client could send; add one (mail-guard hash-password) or set required: false',
    ],
    [`smtp:\n  auth: { users: [${user('app')}] }\n`, 'test.yaml: smtp.auth.users: SMTP AUTH is only offered after STARTTLS; set smtp.tls (key and cert)'],
    [
      `smtp:\n  auth: { users: [${user('app')}, ${user('ops')}, ${user('app')}] }\n  ${TLS}\n`,
      'test.yaml: smtp.auth.users[2].name: user "app" is listed twice',
    ],
    [
      `smtp:\n  auth: { users: [${user('app')}, ${user('ops', 'scrypt$16384$8$1$bad')}] }\n  ${TLS}\n`,
      'test.yaml: smtp.auth.users[1].passwordHash: expected scrypt$N$r$p$<salt base64>$<hash base64> (see mail-guard hash-password)',
    ],
    [
      `smtp:\n  auth: { users: [${user('app', HASH.replace('16384', '1000'))}] }\n  ${TLS}\n`,
      'test.yaml: smtp.auth.users[0].passwordHash: N must be a power of two',
    ],
    ['smtp:\n  tlsPort: 4650\n', 'test.yaml: smtp.tlsPort: the implicit TLS listener needs a certificate; set smtp.tls (key and cert) or remove smtp.tlsPort'],
  ])('refuses %j naming the key', (yaml, expected) => {
    expect(errorOf(yaml)).toBe(expected);
  });

  it('checks in the order start-up always reported them: required before TLS, TLS before the users', () => {
    expect(errorOf('smtp:\n  auth: { required: true }\n  tlsPort: 4650\n')).toMatch(/^test\.yaml: smtp\.auth\.required: /);
    expect(errorOf(`smtp:\n  auth: { users: [${user('app')}, ${user('app')}] }\n  tlsPort: 4650\n`)).toMatch(/^test\.yaml: smtp\.auth\.users: SMTP AUTH/);
  });

  it('accepts the combinations that work: users with TLS, required with users, tlsPort with TLS', () => {
    const config = parseConfigText(`smtp:\n  auth: { required: true, users: [${user('app')}, ${user('ops')}] }\n  ${TLS}\n  tlsPort: 4650\n`);
    expect(config.smtp.auth.users.map((u) => u.name)).toEqual(['app', 'ops']);
    expect(config.smtp.tlsPort).toBe(4650);
  });
});
