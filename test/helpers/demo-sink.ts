// The compose demo's sink (deploy/demo-sink/sink.mjs) as a real child process on
// free loopback ports, with its JSON log lines parsed as they arrive.

import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from './monitoring-files.js';

export type SinkLine = Record<string, unknown>;

export interface DemoSink {
  readonly smtp: number;
  readonly http: number;
  /** Every line logged so far. */
  readonly lines: SinkLine[];
  /** The next line with this event after the one the previous call returned; fails if the sink exits first. */
  next(event: string): Promise<SinkLine>;
  stop(): void;
}

export async function startDemoSink(): Promise<DemoSink> {
  const child = spawn(process.execPath, [resolve(ROOT, 'deploy/demo-sink/sink.mjs')], {
    env: { ...process.env, SINK_HOST: '127.0.0.1', SINK_SMTP_PORT: '0', SINK_HTTP_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: SinkLine[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const complete = pending.split('\n');
    pending = complete.pop()!;
    for (const line of complete) lines.push(JSON.parse(line) as SinkLine);
    wake();
  });
  child.once('exit', wake);
  let seen = 0;
  const next = (event: string) =>
    new Promise<SinkLine>((done, fail) => {
      const look = () => {
        const i = lines.findIndex((l, n) => n >= seen && l['event'] === event);
        if (i >= 0) {
          waiters.delete(look);
          seen = i + 1;
          done(lines[i]!);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          waiters.delete(look);
          fail(new Error(`the demo sink exited (${child.exitCode ?? child.signalCode}) before logging "${event}"`));
        }
      };
      waiters.add(look);
      look();
    });
  const listening = await next('listening');
  return {
    smtp: listening['smtp'] as number,
    http: listening['http'] as number,
    lines,
    next,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
