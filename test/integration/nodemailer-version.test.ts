// THREATS.md principle 4: one address parser, current. mailparser and
// smtp-server depend on nodemailer too; package.json overrides them to ours.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface NpmNode {
  version?: string;
  dependencies?: Record<string, NpmNode>;
}

function collect(node: NpmNode, name: string, into: Set<string>): Set<string> {
  for (const [dep, child] of Object.entries(node.dependencies ?? {})) {
    if (dep === name && child.version) into.add(child.version);
    collect(child, name, into);
  }
  return into;
}

const atLeast = (version: string, min: string): boolean => {
  const a = version.split(/[.-]/).slice(0, 3).map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return true;
};

describe('nodemailer', () => {
  it('exactly one version is installed, and it is >= 10.4.1', () => {
    let out: string;
    try {
      out = execFileSync('npm', ['ls', 'nodemailer', '--all', '--json'], { cwd: ROOT, encoding: 'utf8' });
    } catch (err) {
      // npm ls exits non-zero on an invalid tree but still prints it.
      out = (err as { stdout?: string }).stdout ?? '';
    }
    const versions = collect(JSON.parse(out) as NpmNode, 'nodemailer', new Set());
    expect([...versions]).toHaveLength(1);
    expect(atLeast([...versions][0]!, '10.4.1')).toBe(true);
  });

  it('mailparser and smtp-server load the very same copy as we do', () => {
    const ours = createRequire(`${ROOT}package.json`);
    const mine = ours.resolve('nodemailer/package.json');
    for (const dependant of ['mailparser', 'smtp-server']) {
      const theirs = createRequire(ours.resolve(`${dependant}/package.json`));
      expect(theirs.resolve('nodemailer/package.json')).toBe(mine);
    }
  });

  it('the version comparison can fail', () => {
    expect(atLeast('10.4.0', '10.4.1')).toBe(false);
    expect(atLeast('9.99.99', '10.4.1')).toBe(false);
    expect(atLeast('10.4.1', '10.4.1')).toBe(true);
    expect(atLeast('11.0.0', '10.4.1')).toBe(true);
  });
});
