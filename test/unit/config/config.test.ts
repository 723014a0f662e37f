import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../../src/config/load.js';
import { printableConfig } from '../../../src/config/print.js';

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
    ['policy:\n  rules:\n    - { name: x, from: a@b }\n', 'test.yaml: policy.rules[0]: a rule needs an action or a threshold'],
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
      'upstream: { host: relay, auth: { user: u, pass: hunter2 } }\nstore: { url: "redis://:s3cret@127.0.0.1:6379" }\nadmin: { tokens: [{ name: a, role: approver, tokenSha256: "' + 'ab'.repeat(32) + '" }] }\n',
    );
    const printed = printableConfig(config);
    expect(printed).not.toContain('hunter2');
    expect(printed).not.toContain('s3cret');
    expect(printed).not.toContain('ab'.repeat(32));
    expect(printed).toContain('user: u');
    expect(printed).toContain('pool: 8');
  });
});
