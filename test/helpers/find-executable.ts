import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A real server or tool the tests need: `$overrideVariable`, else the first executable on PATH or in the usual sbin/bin dirs. */
export function findExecutable(name: string, overrideVariable: string): string | null {
  const override = process.env[overrideVariable];
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  const candidates = override ? [override] : dirs.filter(Boolean).map((d) => join(d, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return null;
}
