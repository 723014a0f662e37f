import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createApp } from '../../src/app.js';
import { parseConfigObject } from '../../src/config/load.js';
import type { MailGuardConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/observability/logger.js';

export interface RunningMailGuard {
  smtpPort: number;
  adminPort: number;
  config: MailGuardConfig;
  storePath: string;
  /** Parsed log lines written so far. */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the first log line (already written or still to come) that matches. */
  waitForLog(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * The real app, in process, on ephemeral loopback ports. `config` is merged over
 * test defaults; pass `storePath` to reuse a store across a restart.
 */
export async function startMailGuard(config: Record<string, unknown> = {}, storePath?: string): Promise<RunningMailGuard> {
  const path = storePath ?? (await mkdtemp(join(tmpdir(), 'mail-guard-test-')));
  const { smtp, admin, store, log, ...rest } = config as Record<string, Record<string, unknown> | undefined>;
  const effective = parseConfigObject({
    smtp: { port: 0, ...smtp },
    admin: { port: 0, ...admin },
    store: { path, ...store },
    log: { level: 'info', ...log },
    ...rest,
  });
  const logs: Array<Record<string, unknown>> = [];
  const waiting: Array<() => void> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      for (const check of waiting.splice(0)) check();
      done();
    },
  });
  const app = createApp(effective, createLogger(effective.log, sink));
  const { smtpPort, adminPort } = await app.start();
  const waitForLog = (match: (line: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const check = (): void => {
        const found = logs.find(match);
        if (found) resolve(found);
        else waiting.push(check);
      };
      check();
    });
  return { smtpPort, adminPort, config: effective, storePath: path, logs, waitForLog, stop: () => app.stop() };
}
