// promtool (Debian package `prometheus`) checks and unit-tests the alert rules.
// Without it on the PATH the promtool tests are skipped with one loud line; CI
// sets MAIL_GUARD_REQUIRE_PROMTOOL=1 so a missing promtool fails them instead.
// MAIL_GUARD_PROMTOOL=/path/to/promtool overrides the lookup.
//
//   describe.skipIf(skipPromtool)('…', () => { it('…', () => expectPromtoolSuccess(['check', 'rules', ALERTS])); });

import { spawn } from 'node:child_process';
import { expect } from 'vitest';
import { findExecutable } from './find-executable.js';
import { ROOT } from './monitoring-files.js';

const INSTALL_HINT = 'install it with apt-get install prometheus (it ships promtool; stop the daemon it starts)';
const required = process.env['MAIL_GUARD_REQUIRE_PROMTOOL'] === '1';
const promtool = findExecutable('promtool', 'MAIL_GUARD_PROMTOOL');

/** True when promtool is missing and not required: its tests are skipped (announced once per test file). */
export const skipPromtool = !promtool && !required;
if (skipPromtool) {
  process.stderr.write(`\n*** SKIPPING promtool tests (check rules, test rules): promtool not found; ${INSTALL_HINT} ***\n\n`);
}

/** Runs promtool in the repository root; resolves with its exit code and output. */
function runPromtool(args: string[]): Promise<{ code: number | null; output: string }> {
  if (!promtool) {
    const where = process.env['MAIL_GUARD_PROMTOOL'] ? `at MAIL_GUARD_PROMTOOL=${process.env['MAIL_GUARD_PROMTOOL']}` : 'on PATH';
    throw new Error(`MAIL_GUARD_REQUIRE_PROMTOOL=1 but promtool was not found ${where}; ${INSTALL_HINT}`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(promtool, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

export async function expectPromtoolSuccess(args: string[]): Promise<void> {
  const { code, output } = await runPromtool(args);
  // The message carries promtool's own report (which rule, which alert, exp vs got).
  expect(code, `promtool ${args.join(' ')} exited ${code}:\n${output}`).toBe(0);
}
