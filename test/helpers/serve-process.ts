// `node dist/cli/main.js serve` as a real child process on fresh loopback ports,
// with its JSON log lines parsed as they arrive (`npm test` builds dist/ first).

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { freePort } from './free-port.js';

const CLI = resolve('dist/cli/main.js');

export type LogLine = Record<string, unknown>;

export interface ServedProcess {
  readonly child: ChildProcess;
  readonly smtpPort: number;
  readonly adminPort: number;
  readonly logs: LogLine[];
  /** The config file it serves (a reload test rewrites it), and what was written there. */
  readonly configPath: string;
  readonly config: Record<string, unknown>;
  output(): string;
  /** The exit code (null when killed by a signal) and the signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The first log line (already written or still to come) that matches; fails if the process exits first. */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** A metric's value from the admin port's /metrics (the series named exactly, labels included). */
  metric(series: string): Promise<number | undefined>;
}

const running: ChildProcess[] = [];

/** Kills whatever a test left running. */
export function killServed(): void {
  for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Writes the config (JSON is YAML) into dir and serves it; resolves once "mail-guard listening" is logged. */
export async function serveProcess(dir: string, config: Record<string, unknown>): Promise<ServedProcess> {
  const smtpPort = await freePort();
  const adminPort = await freePort();
  const { smtp, admin, ...rest } = config as Record<string, Record<string, unknown> | undefined>;
  const full = { ...rest, smtp: { host: '127.0.0.1', port: smtpPort, ...smtp }, admin: { host: '127.0.0.1', port: adminPort, ...admin } };
  const configPath = join(dir, `mail-guard-${smtpPort}.yaml`);
  await writeFile(configPath, JSON.stringify(full, null, 2));
  const child = spawn(process.execPath, [CLI, 'serve', '-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let text = '';
  let pending = '';
  const onChunk = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    pending += chunk.toString('utf8');
    let i: number;
    while ((i = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, i);
      pending = pending.slice(i + 1);
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        continue;
      }
      for (const check of [...waiters]) check();
    }
  };
  child.stdout!.on('data', onChunk);
  child.stderr!.on('data', onChunk);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const waitForLog = (match: (line: LogLine) => boolean, what: string, timeoutMs = 20_000) =>
    new Promise<LogLine>((res, rej) => {
      const timer = setTimeout(() => done(new Error(`no ${what} log line within ${timeoutMs} ms; output:\n${text}`)), timeoutMs);
      const check = () => {
        const found = logs.find(match);
        if (found) done(null, found);
      };
      const done = (err: Error | null, line?: LogLine) => {
        clearTimeout(timer);
        waiters.delete(check);
        if (err) rej(err);
        else res(line!);
      };
      waiters.add(check);
      void exited.then(() => setImmediate(() => done(new Error(`mail-guard exited before ${what}; output:\n${text}`))));
      check();
    });
  const metric = async (series: string) => {
    const body = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const line = body.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  await waitForLog((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('mail-guard listening'), '"mail-guard listening"', 30_000);
  return { child, smtpPort, adminPort, logs, configPath, config: full, output: () => text, exited, waitForLog, metric };
}
