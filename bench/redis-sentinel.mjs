// A real Redis primary + one replica + three redis-sentinel processes for the
// soak (SOAK_REDIS=sentinel): each on a free port on 127.0.0.1 with its own
// temp dir, registered with procs.mjs so they die with the bench. Sentinel is
// tuned to notice a dead primary within about a second (down-after 1000 ms)
// and to finish a failover quickly; quorum 2 of 3.
//
//   const group = await startSentinelGroup(tmpDir);
//   group.sentinels            -> [{ host, port }] for ioredis / store.redisOptions
//   await group.killPrimary()  -> SIGKILL; resolves { at }
//   await group.promotion      -> { at, host, port } once +switch-master is heard
//   await group.stop()
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, sleep, startChild, stopChild } from './procs.mjs';

export const MASTER_NAME = 'mail-guard';

/** redis-server and redis-sentinel, or a reason why not. */
export function findSentinelBinaries() {
  const onPath = (name) =>
    (process.env.PATH ?? '')
      .split(path.delimiter)
      .map((dir) => path.join(dir, name))
      .find((file) => {
        try {
          fs.accessSync(file, fs.constants.X_OK);
          return true;
        } catch {
          return false;
        }
      }) ?? null;
  const server = onPath('redis-server');
  const sentinel = onPath('redis-sentinel');
  if (!server) return { ok: false, reason: 'redis-server not found on PATH (apt-get install redis-server)' };
  if (!sentinel) return { ok: false, reason: 'redis-sentinel not found on PATH (apt-get install redis-sentinel)' };
  return { ok: true, server, sentinel };
}

function logTo(dir, name) {
  const file = path.join(dir, `${name}.log`);
  return { file, fd: fs.openSync(file, 'a') };
}

/** A bounded poll of our own child until it answers PING (the bench's, not a test's). */
async function waitForPing(port, entry, totalMs = 15_000) {
  const until = Date.now() + totalMs;
  while (Date.now() < until && !entry.exited) {
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return true;
    } catch {
      /* not yet */
    } finally {
      client.disconnect();
    }
    await sleep(50);
  }
  return false;
}

function startRedis(binary, dir, name, port, extra = []) {
  const data = path.join(dir, name);
  fs.mkdirSync(data, { recursive: true });
  const log = logTo(dir, name);
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', data, '--save', '', '--appendonly', 'yes'];
  args.push('--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--logfile', '', ...extra);
  const entry = startChild(`redis ${name}`, binary, args, { stdio: ['ignore', log.fd, log.fd] });
  fs.closeSync(log.fd);
  return { entry, port, logFile: log.file };
}

function startSentinel(binary, dir, index, port, primaryPort, { downAfterMs, failoverTimeoutMs }) {
  const data = path.join(dir, `sentinel-${index}`);
  fs.mkdirSync(data, { recursive: true });
  // Sentinel rewrites its config file (it records the replicas, the other sentinels, the new primary).
  const conf = path.join(data, 'sentinel.conf');
  fs.writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'daemonize no',
      `dir ${data}`,
      'logfile ""',
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
      `sentinel down-after-milliseconds ${MASTER_NAME} ${downAfterMs}`,
      `sentinel failover-timeout ${MASTER_NAME} ${failoverTimeoutMs}`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
      '',
    ].join('\n'),
  );
  const log = logTo(dir, `sentinel-${index}`);
  const entry = startChild(`redis-sentinel ${index}`, binary, [conf], { stdio: ['ignore', log.fd, log.fd] });
  fs.closeSync(log.fd);
  return { entry, port, logFile: log.file };
}

/**
 * Starts the group and waits until it can fail over: the replica in sync and
 * every sentinel knowing the replica and the two other sentinels.
 */
export async function startSentinelGroup(dir, { downAfterMs = 1000, failoverTimeoutMs = 3000, minReplicasToWrite = 0 } = {}) {
  const bins = findSentinelBinaries();
  if (!bins.ok) throw new Error(bins.reason);
  const primaryPort = await freePort();
  const replicaPort = await freePort();
  // min-replicas-to-write on every server (any of them may be promoted): a primary without
  // enough replicas refuses a write before running it, instead of leaving it for WAIT to doubt.
  const guard = minReplicasToWrite > 0 ? ['--min-replicas-to-write', String(minReplicasToWrite), '--min-replicas-max-lag', '5'] : [];
  const primary = startRedis(bins.server, dir, 'primary', primaryPort, guard);
  if (!(await waitForPing(primaryPort, primary.entry))) throw new Error(`redis primary on ${primaryPort} did not start (${primary.logFile})`);
  const replica = startRedis(bins.server, dir, 'replica', replicaPort, [...guard, '--replicaof', '127.0.0.1', String(primaryPort)]);
  if (!(await waitForPing(replicaPort, replica.entry))) throw new Error(`redis replica on ${replicaPort} did not start (${replica.logFile})`);
  const sentinels = [];
  for (let i = 0; i < 3; i++) sentinels.push(startSentinel(bins.sentinel, dir, i + 1, await freePort(), primaryPort, { downAfterMs, failoverTimeoutMs }));
  for (const s of sentinels) if (!(await waitForPing(s.port, s.entry))) throw new Error(`redis-sentinel on ${s.port} did not start (${s.logFile})`);

  const admin = (port) => {
    const client = new Redis({ host: '127.0.0.1', port, enableOfflineQueue: true, maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    return client;
  };
  // Bounded: replication and sentinel discovery take a few hello periods (2 s each).
  const until = Date.now() + 30_000;
  const replicaClient = admin(replicaPort);
  const sentinelClients = sentinels.map((s) => admin(s.port));
  try {
    for (;;) {
      const info = await replicaClient.info('replication').catch(() => '');
      const synced = /master_link_status:up/.test(info);
      const views = await Promise.all(
        sentinelClients.map(async (c) => {
          const replicas = await c.call('SENTINEL', 'REPLICAS', MASTER_NAME).catch(() => []);
          const peers = await c.call('SENTINEL', 'SENTINELS', MASTER_NAME).catch(() => []);
          return replicas.length >= 1 && peers.length >= 2;
        }),
      );
      if (synced && views.every(Boolean)) break;
      if (Date.now() > until)
        throw new Error(`sentinel group not ready within 30 s (replica synced: ${synced}, sentinels ready: ${views.filter(Boolean).length}/3)`);
      await sleep(200);
    }
  } finally {
    replicaClient.disconnect();
    for (const c of sentinelClients) c.disconnect();
  }

  // +switch-master from the first sentinel: the moment Sentinel promoted the replica.
  const watcher = new Redis({ host: '127.0.0.1', port: sentinels[0].port, maxRetriesPerRequest: 1 });
  watcher.on('error', () => {});
  let promoted;
  const promotion = new Promise((resolve) => (promoted = resolve));
  watcher.on('message', (channel, message) => {
    if (channel !== '+switch-master') return;
    // "<name> <old-ip> <old-port> <new-ip> <new-port>"
    const [name, , , host, port] = message.split(' ');
    if (name === MASTER_NAME) promoted({ at: Date.now(), host, port: Number(port) });
  });
  await watcher.subscribe('+switch-master');

  return {
    name: MASTER_NAME,
    primary,
    replica,
    sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
    processes: [primary, replica, ...sentinels],
    promotion,
    /** SIGKILL the primary: no shutdown, no last write to the replica. */
    async killPrimary() {
      const at = Date.now();
      primary.entry.child.kill('SIGKILL');
      await primary.entry.exitPromise;
      return { at };
    },
    /**
     * Starts the killed primary again on its port and data dir, as a supervisor
     * would: it comes up as a primary with stale data, and Sentinel turns it into
     * a replica of the new primary (+convert-to-slave). Resolves when it answers.
     */
    async restartPrimary() {
      const again = startRedis(bins.server, dir, 'primary', primaryPort, guard);
      primary.entry = again.entry;
      if (!(await waitForPing(primaryPort, again.entry))) throw new Error(`redis primary on ${primaryPort} did not start again`);
      return { at: Date.now() };
    },
    /** Bounded poll of `port`'s INFO until a replica is online there (the old primary rejoined); null when not within totalMs. */
    async waitForReplicaAt(port, totalMs = 60_000) {
      const c = admin(port);
      try {
        for (const until = Date.now() + totalMs; Date.now() < until; await sleep(200)) {
          const info = await c.info('replication').catch(() => '');
          if (/slave\d+:.*state=online/.test(info)) return { at: Date.now() };
        }
        return null;
      } finally {
        c.disconnect();
      }
    },
    /** The primary Sentinel names now. */
    async currentPrimary() {
      const c = admin(sentinels[0].port);
      try {
        const [host, port] = await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME);
        return { host, port: Number(port) };
      } finally {
        c.disconnect();
      }
    },
    async stop() {
      watcher.disconnect();
      await Promise.all([primary, replica, ...sentinels].map((p) => stopChild(p.entry, 3000)));
    },
  };
}
