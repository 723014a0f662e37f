// A real redis-server for tests: its own free port on 127.0.0.1 and its own temp
// dir, with the settings an operator must use (AOF on, noeviction).
//
//   const redis = await startRedisServer();     // null: not installed (dev machine)
//   describe.skipIf(!redis)('…', () => { … redis!.url … });
//   afterAll(() => redis?.stop());
//
// CI sets MAIL_GUARD_REQUIRE_REDIS=1 so a missing redis-server fails the suite
// instead of skipping it.

import { spawn, type ChildProcess } from 'node:child_process';
import { findExecutable } from './find-executable.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** SIGTERM, wait, remove the temp dir. */
  stop(): Promise<void>;
  /** SIGKILL and wait: an outage, the data dir stays for restart(). */
  kill(): Promise<void>;
  /** Starts it again on the same port and dir (AOF is replayed). */
  restart(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers (a stuck server, not a dead one). */
  freeze(): Promise<void>;
  /** SIGCONT after freeze(). */
  thaw(): Promise<void>;
}

const INSTALL_HINT = 'install it with apt-get install redis-server';
let skipAnnounced = false;
const running = new Set<ChildProcess>();
process.once('exit', () => {
  // A test run that dies must not leave redis-servers behind.
  for (const child of running) child.kill('SIGKILL');
});

/** `args`: more redis-server arguments (e.g. --replicaof host port for a replica). */
export async function startRedisServer(options: { readonly args?: readonly string[] } = {}): Promise<RedisServer | null> {
  const extra = options.args ?? [];
  const binary = findRedisServer();
  if (!binary) {
    if (process.env['MAIL_GUARD_REQUIRE_REDIS'] === '1') {
      throw new Error(`MAIL_GUARD_REQUIRE_REDIS=1 but redis-server was not found on PATH; ${INSTALL_HINT}`);
    }
    if (!skipAnnounced) {
      skipAnnounced = true;
      process.stderr.write(`\n*** SKIPPING Redis tests: redis-server not found; ${INSTALL_HINT} ***\n\n`);
    }
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'mail-guard-redis-'));
  let port = 0;
  let child: ChildProcess | null = null;
  for (let attempt = 1; child === null; attempt++) {
    port = await freePort();
    try {
      child = await launch(binary, port, dir, extra);
    } catch (err) {
      // Another process may have taken the port between freePort() and bind.
      if (attempt >= 5) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  let current: ChildProcess | null = child;
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = current;
    current = null;
    if (!proc) return;
    proc.kill('SIGCONT'); // a frozen server cannot act on SIGTERM
    await terminate(proc, signal);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => halt('SIGKILL'),
    async restart() {
      await halt('SIGTERM');
      current = await launch(binary, port, dir, extra);
    },
    async freeze() {
      current?.kill('SIGSTOP');
    },
    async thaw() {
      current?.kill('SIGCONT');
    },
  };
}

function findRedisServer(): string | null {
  return findExecutable('redis-server', 'MAIL_GUARD_REDIS_SERVER');
}

async function launch(binary: string, port: number, dir: string, extra: readonly string[]): Promise<ChildProcess> {
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'yes',
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
    '--logfile',
    '',
    ...extra,
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // redis-server logs this once it listens and has replayed the AOF: from then on it answers.
  const outcome = await new Promise<'ready' | 'exited' | 'late'>((resolve) => {
    const finish = (why: 'ready' | 'exited' | 'late'): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onOutput);
      child.off('exit', onExit);
      resolve(why);
    };
    const onOutput = (): void => {
      if (READY.test(output)) finish('ready');
    };
    const onExit = (): void => finish('exited');
    // An upper bound, not the event: a redis-server that has not said it is ready within 15 s fails the start.
    const timer = setTimeout(() => finish('late'), 15_000);
    child.stdout?.on('data', onOutput);
    child.once('exit', onExit);
    if (child.exitCode !== null || child.signalCode !== null) finish('exited');
  });
  if (outcome === 'ready') return child;
  if (outcome === 'exited') throw new Error(`redis-server on port ${port} exited at start:\n${output}`);
  await terminate(child, 'SIGKILL');
  throw new Error(`redis-server on port ${port} was not ready within 15 s:\n${output}`);
}

const READY = /Ready to accept connections/;

function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}
