// store.path/mail-guard.pid: which process `mail-guard reload` (and an init
// system) signals. Written by `serve` once it listens, removed on a clean exit;
// with workers it holds the primary's pid, the one process that reloads.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MailGuardConfig } from '../config/schema.js';

export const PID_FILE_NAME = 'mail-guard.pid';

export function pidFilePath(config: Pick<MailGuardConfig, 'store'>): string {
  return join(config.store.path, PID_FILE_NAME);
}

/** Writes this process's pid; returns how to remove it again (only if it still names this process). */
export function writePidFile(config: Pick<MailGuardConfig, 'store'>): () => void {
  const path = pidFilePath(config);
  mkdirSync(config.store.path, { recursive: true });
  writeFileSync(path, `${process.pid}\n`);
  return () => {
    if (readPidFile(path) === process.pid) rmSync(path, { force: true });
  };
}

/** The pid in the file, or null when there is no file or it holds no pid. */
export function readPidFile(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}
