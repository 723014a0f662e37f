// The built CLI, run as a user runs it (`npm test` builds dist/ first).
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLI = resolve('dist/cli/main.js');
const FIXTURES = resolve('test/fixtures/eml');

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let dir: string;
let config: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mail-guard-cli-'));
  config = join(dir, 'mail-guard.yaml');
  await writeFile(
    config,
    'internalDomains: [example.co.jp]\npolicy: { action: reject }\nupstream: { host: relay.example.net, auth: { user: u, pass: hunter2 } }\n',
  );
  await writeFile(join(dir, 'clean.eml'), 'From: app@example.co.jp\r\nTo: a@ext.com, staff@example.co.jp\r\nSubject: ok\r\n\r\nhi\r\n');
  await writeFile(join(dir, 'leak.eml'), 'From: news@example.co.jp\r\nTo: a@ext1.com, b@ext2.com, c@ext3.com\r\nSubject: leak\r\n\r\nhi\r\n');
  await writeFile(join(dir, 'bad.eml'), '\uFEFFFrom: app@example.co.jp\r\nTo: a@ext.com\r\n\r\nhi\r\n');
});

describe('mail-guard check', () => {
  it('exits 0 when every message passes', async () => {
    const r = await cli(['check', '-c', config, join(dir, 'clean.eml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/clean\.eml: pass/);
  });

  it('exits 1 on any violation and says what the proxy would answer', async () => {
    const r = await cli(['check', '-c', config, join(dir, 'clean.eml'), join(dir, 'leak.eml')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/leak\.eml: VIOLATION -> reject/);
    expect(r.stdout).toMatch(/550 5\.7\.1 Message exposes 3 external recipient addresses to each other in To/);
  });

  it("takes the envelope into account: a copy's own recipient is not exposed to itself", async () => {
    const own = join(dir, 'own.eml');
    await writeFile(own, 'From: app@example.co.jp\r\nTo: a@ext1.com, b@ext2.com\r\n\r\nhi\r\n');
    expect((await cli(['check', '-c', config, own])).code).toBe(1);
    expect((await cli(['check', '-c', config, '--rcpt', 'a@ext1.com', own])).code).toBe(0);
  });

  it('prints JSON with --json, and a malformed message counts as a violation', async () => {
    const r = await cli(['check', '-c', config, '--json', join(dir, 'leak.eml'), join(dir, 'bad.eml')]);
    expect(r.code).toBe(1);
    const verdicts = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(verdicts).toHaveLength(2);
    expect(verdicts[0]).toMatchObject({ violation: true, action: 'reject', exposedExternal: 3, exposingHeaders: ['To'] });
    expect(verdicts[1]).toMatchObject({ violation: true, action: 'reject' });
    expect(String(verdicts[1]!['reply'])).toMatch(/^554 5\.6\.0 /);
  });

  // Issue 8: every class the proxy catches, `check` catches, from the same fixtures.
  it.each([
    ['utf7-encoded-word-in-display-name', ['To', 'Cc']],
    ['iso-2022-jp-raw-in-display-name', ['To']],
    ['format-characters-next-to-at', ['To']],
    ['compatibility-forms-of-at-and-dot', ['To']],
    ['address-in-group-name-quote-before-at', ['To', 'Cc']],
    ['reply-to-lists-members', ['Reply-To']],
    ['mail-followup-to-lists-members', ['Mail-Followup-To']],
    ['resent-bcc-lists-members', ['Resent-Bcc']],
    ['from-with-several-addresses', ['From']],
  ])('catches %s as the proxy does', async (fixture, headers) => {
    const r = await cli(['check', '-c', config, '--json', join(FIXTURES, `${fixture}.eml`)]);
    expect(r.code).toBe(1);
    const [verdict] = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(verdict).toMatchObject({ violation: true, action: 'reject', exposingHeaders: headers });
    expect(String(verdict!['reply'])).toMatch(
      new RegExp(`^550 5\\.7\\.1 Message exposes \\d+ external recipient addresses to each other in ${headers.join(', ')}; `),
    );
  });

  it('refuses a NUL byte in the body as the proxy does, and an undecodable charset as malformed', async () => {
    const r = await cli(['check', '-c', config, '--json', join(FIXTURES, 'nul-byte-in-body.eml'), join(FIXTURES, 'undecodable-charset-encoded-word.eml')]);
    expect(r.code).toBe(1);
    const [nul, charset] = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(String(nul!['reply'])).toMatch(/^554 5\.6\.0 Message contains a NUL byte/);
    expect(String(charset!['reply'])).toMatch(
      /^554 5\.6\.0 Malformed message header: an encoded word in a charset no reader here can decode \(x-no-such-charset\)/,
    );
  });

  it('reads saved mail with a leading mbox From line as the mailer would have sent it', async () => {
    const mbox = join(dir, 'saved.eml');
    await writeFile(mbox, 'From news@example.co.jp Sun Nov 29 08:00:00 2026\nFrom: news@example.co.jp\nTo: a@ext1.com, b@ext2.com\n\nhi\n');
    const r = await cli(['check', '-c', config, '--json', mbox]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ action: 'reject', exposedExternal: 2, exposingHeaders: ['To'] });
  });

  it('says when a split copy would be held instead of sent, as the proxy would', async () => {
    const splitConfig = join(dir, 'split.yaml');
    await writeFile(splitConfig, 'internalDomains: [example.co.jp]\npolicy: { action: split }\n');
    const fixture = join(FIXTURES, 'from-with-several-addresses.eml');
    const r = await cli(['check', '-c', splitConfig, '--json', '--rcpt', 'x@ext1.com', '--rcpt', 'y@ext2.com', fixture]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({
      action: 'quarantine',
      withheld: 'a split copy would still show 1 other external recipient(s) in From',
    });
  });

  it('exits 2 when a file cannot be read, or the config is bad', async () => {
    expect((await cli(['check', '-c', config, join(dir, 'missing.eml')])).code).toBe(2);
    const badConfig = join(dir, 'bad.yaml');
    await writeFile(badConfig, 'policy:\n  action: drop\n');
    const r = await cli(['check', '-c', badConfig, join(dir, 'clean.eml')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^mail-guard: .*bad\.yaml: policy\.action: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('mail-guard config check', () => {
  it('prints the effective config with secrets masked', async () => {
    const r = await cli(['config', 'check', '-c', config]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid');
    expect(r.stdout).toMatch(/host: relay\.example\.net/);
    expect(r.stdout).toMatch(/maxRecipients: 1000/);
    expect(r.stdout).not.toContain('hunter2');
  });

  it('reads $MAIL_GUARD_CONFIG when -c is not given', async () => {
    const r = await cli(['config', 'check'], { MAIL_GUARD_CONFIG: config });
    expect(r.stdout).toContain(config);
  });

  it('also runs the checks across keys that serve would run (AUTH needs STARTTLS)', async () => {
    const bad = join(dir, 'auth-no-tls.yaml');
    await writeFile(
      bad,
      'smtp:\n  auth:\n    users: [{ name: app, passwordHash: "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=" }]\n',
    );
    const r = await cli(['config', 'check', '-c', bad]);
    expect(r.code).toBe(2);
    // A schema check now, so the line names the file first, like every other config error.
    expect(r.stderr).toBe(`mail-guard: ${bad}: smtp.auth.users: SMTP AUTH is only offered after STARTTLS; set smtp.tls (key and cert)\n`);
  });

  it('reads the smtp.tls files as serve would, without building a listener', async () => {
    const key = resolve('test/fixtures/tls/localhost-key.pem');
    const cert = resolve('test/fixtures/tls/localhost-cert.pem');
    const missing = join(dir, 'no-such-key.pem');
    const bad = join(dir, 'missing-key.yaml');
    await writeFile(bad, `smtp: { tls: { key: ${missing}, cert: ${cert} } }\n`);
    const r = await cli(['config', 'check', '-c', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`mail-guard: smtp.tls.key: cannot read ${missing}: ENOENT\n`);

    const good = join(dir, 'tls.yaml');
    await writeFile(good, `smtp: { tlsPort: 4650, tls: { key: ${key}, cert: ${cert} } }\n`);
    const ok = await cli(['config', 'check', '-c', good]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`key: ${key}`);

    const admin = join(dir, 'admin-tls.yaml');
    await writeFile(admin, `admin: { tls: { key: ${missing}, cert: ${cert} } }\n`);
    const noAdminKey = await cli(['config', 'check', '-c', admin]);
    expect(noAdminKey.code).toBe(2);
    expect(noAdminKey.stderr).toBe(`mail-guard: admin.tls.key: cannot read ${missing}: ENOENT\n`);
  });

  it('checks upstream.tls.ca as serve would (the file must exist) and prints upstream.tls', async () => {
    const missing = join(dir, 'no-such-ca.pem');
    const bad = join(dir, 'missing-ca.yaml');
    await writeFile(bad, `upstream: { host: 127.0.0.1, tls: { ca: ${missing}, servername: relay.example.net } }\n`);
    const r = await cli(['config', 'check', '-c', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`mail-guard: upstream.tls.ca: cannot read ${missing}: ENOENT\n`);

    await writeFile(missing, (await import('../helpers/test-tls.js')).RELAY_TLS.ca + '\n');
    const ok = await cli(['config', 'check', '-c', bad]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`ca: ${missing}`);
    expect(ok.stdout).toContain('servername: relay.example.net');
    expect(ok.stdout).toContain('minVersion: TLSv1.2');
  });

  it('names the key of an unknown or wrong setting on one line', async () => {
    const bad = join(dir, 'typo.yaml');
    await writeFile(bad, 'upstrem:\n  host: relay\n');
    const r = await cli(['config', 'check', '-c', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`mail-guard: ${bad}: upstrem: unknown key\n`);
  });
});
