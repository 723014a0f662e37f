// config/systemd/mail-guard.service: checked by the real systemd-analyze (skipped
// without it, unless MAIL_GUARD_REQUIRE_SYSTEMD=1 as in CI; the same verify runs in
// .ci/run), and its key directives read against the config schema, the CLI and the
// README's "Running as a service", so neither can drift from the other.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { findExecutable } from '../helpers/find-executable.js';
import { ROOT, read } from '../helpers/monitoring-files.js';

const UNIT = 'config/systemd/mail-guard.service';
const INSTALL_DIR = '/opt/mail-guard';
const run = promisify(execFile);

const systemdAnalyze = findExecutable('systemd-analyze', 'MAIL_GUARD_SYSTEMD_ANALYZE');
const required = process.env['MAIL_GUARD_REQUIRE_SYSTEMD'] === '1';
const skipSystemd = !systemdAnalyze && !required;
if (skipSystemd) {
  process.stderr.write('\n*** SKIPPING systemd-analyze tests of the unit file: systemd-analyze not found; install it with apt-get install systemd ***\n\n');
}

function tool(): string {
  if (!systemdAnalyze) throw new Error('MAIL_GUARD_REQUIRE_SYSTEMD=1 but systemd-analyze was not found; install it with apt-get install systemd');
  return systemdAnalyze;
}

type Unit = Map<string, Map<string, string[]>>;

/** A unit file's sections, each key with every value it is given, in order (systemd's own reading, minus continuation lines: the unit has none). */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 0) throw new Error(`${UNIT}: cannot read line "${line}"`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

const unitText = read(UNIT);
const service = parseUnit(unitText).get('Service')!;
/** The value systemd uses: the last assignment. */
const last = (key: string): string | undefined => service.get(key)?.at(-1);

/** A systemd time span such as 45s, 45, 1min 30s, in seconds. */
function seconds(span: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  let total = 0;
  for (const part of span.trim().split(/\s+/)) {
    const m = /^(\d+(?:\.\d+)?)([a-z]*)$/.exec(part);
    const factor = m ? units[m[2] || 's'] : undefined;
    if (!m || factor === undefined) throw new Error(`not a time span: ${span}`);
    total += Number(m[1]) * factor;
  }
  return total;
}

/** The README's section, up to the next "## ". */
function readmeSection(title: string): string {
  const readme = read('README.md');
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README has a section "## ${title}"`).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * systemd-analyze verify on a copy of the unit whose ExecStart names the node
 * running this test instead of /usr/bin/node (verify checks that the program
 * exists; nothing else is changed). verify reports a directive it ignores on
 * stderr and still exits 0, so the output is returned for the caller to judge.
 */
async function verify(edit: (text: string) => string = (t) => t): Promise<{ code: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mail-guard-unit-'));
  tempDirs.push(dir);
  const copy = join(dir, 'mail-guard.service');
  writeFileSync(copy, edit(unitText.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `)));
  try {
    const { stdout, stderr } = await run(tool(), ['verify', copy]);
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

describe.skipIf(skipSystemd)('systemd-analyze', () => {
  it(`verify ${UNIT}: exit 0 and not a single warning`, async () => {
    const { code, output } = await verify();
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('verify does report a directive systemd would ignore (the check above has teeth)', async () => {
    const { output } = await verify((t) => t.replace('ProtectSystem=strict', 'ProtectSystem=strictly'));
    expect(output).toMatch(/ignoring: strictly/);
  });

  it('security --offline rates the unit at most 2.0 ("OK")', async () => {
    const { stdout } = await run(tool(), ['security', '--offline=true', join(ROOT, UNIT)]);
    const m = /Overall exposure level for mail-guard\.service: (\d+\.\d+)/.exec(stdout);
    expect(m, stdout).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(2);
  });
});

describe(`${UNIT} directives`, () => {
  it('ExecStart runs the built CLI with flags serve really has', async () => {
    const exec = last('ExecStart')!.split(/\s+/);
    expect(exec).toEqual(['/usr/bin/node', `${INSTALL_DIR}/dist/cli/main.js`, 'serve', '-c', '/etc/mail-guard/mail-guard.yaml']);
    const script = join(ROOT, exec[1]!.slice(INSTALL_DIR.length + 1));
    expect(existsSync(script), `${script} (npm run build)`).toBe(true);
    const { stdout } = await run(process.execPath, [script, 'serve', '--help']);
    expect(stdout).toMatch(/-c, --config <file>/);
  });

  it('reload sends SIGHUP to the primary; stopping sends SIGTERM to it alone', () => {
    expect(last('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(last('KillMode')).toBe('mixed');
    expect(last('KillSignal') ?? 'SIGTERM').toBe('SIGTERM');
  });

  it('TimeoutStopSec is longer than the default shutdownGraceSeconds', () => {
    const grace = configSchema.parse({}).shutdownGraceSeconds;
    expect(grace).toBeGreaterThan(0);
    expect(seconds(last('TimeoutStopSec')!)).toBeGreaterThan(grace);
  });

  it('its own user, no privileges, a read-only system, restarts on failure', () => {
    expect(last('User')).toBe('mail-guard');
    expect(last('Group')).toBe('mail-guard');
    expect(service.has('DynamicUser')).toBe(false);
    expect(['exec', 'simple']).toContain(last('Type'));
    expect(last('Restart')).toBe('on-failure');
    expect(service.get('Environment')).toContain('NODE_ENV=production');
    for (const key of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'LockPersonality']) {
      expect(last(key), key).toBe('yes');
    }
    for (const key of ['ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups']) {
      expect(last(key), key).toBe('yes');
    }
    expect(last('ProtectSystem')).toBe('strict');
    expect(last('CapabilityBoundingSet')).toBe('');
    expect(last('AmbientCapabilities') ?? '').toBe('');
    expect(last('RestrictAddressFamilies')).toBe('AF_INET AF_INET6 AF_UNIX');
    expect(service.get('SystemCallFilter')?.[0]).toBe('@system-service');
    // V8's JIT needs W+X memory: set, node would abort at start.
    expect(service.has('MemoryDenyWriteExecute')).toBe(false);
  });

  it('the one writable place is the store path the README tells the config to use', () => {
    const state = last('StateDirectory')!;
    expect(state).toBe('mail-guard');
    const statePath = `/var/lib/${state}`;
    expect(service.has('ReadWritePaths')).toBe(false);
    expect(last('WorkingDirectory')).toBe(statePath);
    const section = readmeSection('Running as a service');
    const storeBlock = /```yaml\nstore:\n\s+path: (\S+)\n```/.exec(section);
    expect(storeBlock, 'a yaml block setting store.path').not.toBeNull();
    expect(storeBlock![1]).toBe(statePath);
  });

  it("the README's install steps create the user, the program and the config the unit names", () => {
    const section = readmeSection('Running as a service');
    expect(section).toMatch(new RegExp(`useradd [^\\n]*(?:\\\\\\n[^\\n]*)*\\b${last('User')}\\n`));
    expect(section).toContain(INSTALL_DIR);
    expect(section).toContain('/etc/mail-guard/mail-guard.yaml');
    expect(section).toContain(`cp ${UNIT} /etc/systemd/system/`);
    expect(section).toContain(`TimeoutStopSec=${last('TimeoutStopSec')}`);
    expect(section).toContain('systemctl reload mail-guard');
    expect(section).toContain('"Reloading the config"');
  });
});
