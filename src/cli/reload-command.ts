// `mail-guard reload`: SIGHUP to the running serve, found by the pid file in
// store.path (or --pid). A pid file whose process is gone, or is some other
// program now (pids are reused), is reported and nothing is signalled.

import { readFileSync } from 'node:fs';
import type { Command, Option } from 'commander';
import { loadConfigFile, resolveConfigPath } from '../config/load.js';
import { pidFilePath, readPidFile } from '../workers/pid-file.js';

/** Nothing to signal: exit 1 with this line. */
export class NotRunningError extends Error {
  override readonly name = 'NotRunningError';
}

/** Whether pid is a live process that runs mail-guard (without /proc, off Linux, a live one counts). */
function runsMailGuard(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it lives, under another user; the cmdline check below decides.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return process.platform !== 'linux';
  }
  return argv.includes('serve') && argv.some((a) => /(^|\/)(mail-guard|main\.js)$/.test(a));
}

export function runReload(opts: { config?: string; pid?: string }): string {
  let pid: number;
  let where: string;
  if (opts.pid !== undefined) {
    pid = Number(opts.pid);
    if (!Number.isInteger(pid) || pid <= 0) throw new NotRunningError(`--pid ${opts.pid}: expected a process id`);
    where = `pid ${pid}`;
  } else {
    const path = pidFilePath(loadConfigFile(resolveConfigPath(opts.config)));
    const found = readPidFile(path);
    if (found === null) throw new NotRunningError(`no mail-guard is running: ${path} does not exist (serve writes it at start)`);
    pid = found;
    where = `pid ${pid} from ${path}`;
  }
  if (!runsMailGuard(pid)) {
    const stale = opts.pid === undefined ? ' (a stale pid file: remove it)' : '';
    throw new NotRunningError(`no mail-guard is running as ${where}${stale}; nothing signalled`);
  }
  process.kill(pid, 'SIGHUP');
  return `sent SIGHUP to mail-guard (${where}); its log says whether the config was taken (config reloaded / config reload refused)`;
}

export function registerReloadCommand(program: Command, configOption: () => Option): void {
  program
    .command('reload')
    .description('make the running serve re-read its config (SIGHUP to the pid in store.path/mail-guard.pid, or --pid)')
    .addOption(configOption())
    .option('--pid <pid>', 'signal this process instead of the one in the pid file')
    .action((opts: { config?: string; pid?: string }) => {
      try {
        process.stdout.write(`${runReload(opts)}\n`);
      } catch (err) {
        if (!(err instanceof NotRunningError)) throw err;
        process.stderr.write(`mail-guard: ${err.message}\n`);
        process.exitCode = 1;
      }
    });
}
