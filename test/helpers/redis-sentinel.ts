// A real Redis primary + replicas (one by default) + three redis-sentinel processes for tests,
// each on a free port on 127.0.0.1 with its own temp dir. Sentinel notices a
// dead primary after `down-after-milliseconds` (1000 here) and promotes the
// replica; quorum 2 of 3. (The soak has the same group in bench/redis-sentinel.mjs.)
//
// The replica reaches the primary through a relay the test can cut
// (`partition()`): what the primary writes after that never reaches the
// replica, as when the link between them breaks. A primary killed then takes
// its unreplicated writes with it — the loss store.redisWaitReplicas prevents.
//
//   const group = await startSentinelGroup();   // null: redis-sentinel not installed (dev machine)
//   store.redisOptions = { sentinels: group.sentinels, name: group.name }
//   const promoted = group.nextPromotion(); await group.killPrimary(); await promoted;
//
// CI sets MAIL_GUARD_REQUIRE_REDIS=1 so a missing redis-sentinel fails the suite.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { findExecutable } from './find-executable.js';
import { freePort } from './free-port.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { within } from './within.js';

export const SENTINEL_MASTER_NAME = 'mail-guard';
const INSTALL_HINT = 'install it with apt-get install redis-sentinel';

export interface SentinelGroup {
  readonly name: string;
  readonly sentinels: readonly { readonly host: string; readonly port: number }[];
  readonly primary: RedisServer;
  readonly replicas: readonly RedisServer[];
  /** Resolves with the new primary's port when a sentinel announces +switch-master (call before the failover). */
  nextPromotion(): Promise<number>;
  /** SIGKILL the primary. */
  killPrimary(): Promise<void>;
  /** Stops passing the primary's writes to the replica (the replica's acknowledgements stop too). */
  partition(): void;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** `replicas`: 1 (default) or more; the first one's link runs through the relay partition() cuts. */
export async function startSentinelGroup(options: { readonly replicas?: number } = {}): Promise<SentinelGroup | null> {
  const binary = findExecutable('redis-sentinel', 'MAIL_GUARD_REDIS_SENTINEL');
  if (!binary) {
    if (process.env['MAIL_GUARD_REQUIRE_REDIS'] === '1') {
      throw new Error(`MAIL_GUARD_REQUIRE_REDIS=1 but redis-sentinel was not found on PATH; ${INSTALL_HINT}`);
    }
    process.stderr.write(`\n*** SKIPPING Redis Sentinel tests: redis-sentinel not found; ${INSTALL_HINT} ***\n\n`);
    return null;
  }
  const primary = await startRedisServer();
  if (!primary) return null;
  const relay = await startTcpRelay(primary.port);
  const replicas: RedisServer[] = [(await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(relay.port)] }))!];
  for (let i = 1; i < (options.replicas ?? 1); i++) replicas.push((await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(primary.port)] }))!);
  // WAIT on the primary returns once the replicas hold everything written so far: they are in sync.
  const admin = new Redis(primary.url);
  try {
    const synced = await within(admin.wait(replicas.length, 15_000), 16_000, 'replicas in sync');
    if (synced < replicas.length) throw new Error(`${synced} of ${replicas.length} replica(s) caught up with the primary`);
  } finally {
    admin.disconnect();
  }
  const dir = mkdtempSync(join(tmpdir(), 'mail-guard-sentinel-'));
  const sentinels: Sentinel[] = [];
  try {
    for (let i = 0; i < 3; i++) sentinels.push(await launchSentinel(binary, join(dir, `sentinel-${i}.conf`), primary.port, replicas.length));
    // Sentinels find the replica and each other through hello messages every 2 s: a few of them.
    await within(Promise.all(sentinels.map((s) => s.ready)), 30_000, 'sentinels see the replica and each other');
  } catch (err) {
    for (const s of sentinels) s.child.kill('SIGKILL');
    throw err;
  }
  const watcher = new Redis({ host: '127.0.0.1', port: sentinels[0]!.port });
  watcher.on('error', () => undefined);
  await watcher.subscribe('+switch-master');
  return {
    name: SENTINEL_MASTER_NAME,
    sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
    primary,
    replicas,
    nextPromotion: () =>
      new Promise((resolve) => {
        const onMessage = (channel: string, message: string): void => {
          // "<name> <old-ip> <old-port> <new-ip> <new-port>"
          const parts = message.split(' ');
          if (channel !== '+switch-master' || parts[0] !== SENTINEL_MASTER_NAME) return;
          watcher.off('message', onMessage);
          resolve(Number(parts[4]));
        };
        watcher.on('message', onMessage);
      }),
    killPrimary: () => primary.kill(),
    partition: () => relay.cut(),
    async stop() {
      watcher.disconnect();
      await Promise.all(sentinels.map((s) => terminate(s.child)));
      relay.close();
      for (const r of replicas) await r.stop();
      await primary.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Sentinel {
  readonly port: number;
  readonly child: ChildProcess;
  /** Resolves once its log shows the replica (+slave) and the two other sentinels (+sentinel): then it can vote. */
  readonly ready: Promise<void>;
}

async function launchSentinel(binary: string, conf: string, primaryPort: number, replicas: number): Promise<Sentinel> {
  const port = await freePort();
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'daemonize no',
      'logfile ""',
      `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 1000`,
      // Long enough that Sentinel does not "fix" the replica's link through the relay during a test;
      // a first failover does not wait for it.
      `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 60000`,
      '',
    ].join('\n'),
  );
  const child = spawn(binary, [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const count = (log: string, event: RegExp): number => (log.match(event) ?? []).length;
  const ready = logShows(child, (log) => count(log, /\+slave slave/g) >= replicas && count(log, /\+sentinel sentinel/g) >= 2);
  ready.catch(() => undefined); // awaited by the caller; an early exit must not be an unhandled rejection meanwhile
  return { port, child, ready };
}

function logShows(child: ChildProcess, done: (log: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer): void => {
      log = (log + chunk.toString()).slice(-20_000);
      if (done(log)) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', () => reject(new Error(`redis-sentinel exited:\n${log.slice(-2000)}`)));
  });
}

export interface TcpRelay {
  readonly port: number;
  /** Drops everything from now on, both ways (the connections stay open). */
  cut(): void;
  /** Drops what the client sends from now on; the server's replies still pass. */
  cutRequests(): void;
  /** Passes everything again. */
  mend(): void;
  /** Closes the connections open now (new ones are accepted). */
  dropConnections(): void;
  close(): void;
}

/** A TCP relay on 127.0.0.1 to `targetPort`: a link the test can cut without touching either end. */
export async function startTcpRelay(targetPort: number): Promise<TcpRelay> {
  let requests = true;
  let replies = true;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.on('data', (chunk) => {
      if (requests) outbound.write(chunk);
    });
    outbound.on('data', (chunk) => {
      if (replies) inbound.write(chunk);
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port,
    cut: () => {
      requests = false;
      replies = false;
    },
    cutRequests: () => {
      requests = false;
    },
    mend: () => {
      requests = true;
      replies = true;
    },
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
