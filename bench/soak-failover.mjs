// The soak on several hosts (issue 13): SOAK_INSTANCES mail-guard instances on
// one store, and with SOAK_REDIS=sentinel that store is a real Redis primary +
// replica + three redis-sentinel (bench/redis-sentinel.mjs) whose primary is
// SIGKILLed mid-run. This module has what the single-instance soak does not:
// the store each mode gives the instances, the failover's timeline, /readyz
// and /metrics polled through it, the records read back from Redis, and the
// tables (per instance; the window).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Redis } from 'ioredis';
import { sleep } from './procs.mjs';
import { MASTER_NAME, startSentinelGroup } from './redis-sentinel.mjs';

const pad = (v, n) => String(v).padStart(n);
const padR = (v, n) => String(v).padEnd(n);
const KEY_PREFIX = '{mail-guard}';
// mail-guard's replies when the store (or, for the ledger, the message handling around it) failed.
const STORE_TEMPFAIL = /^4\.3\.0 Message could not be (stored|checked)/;
export const isStoreTempfail = (attempt) => attempt.code === 451 && STORE_TEMPFAIL.test(attempt.text ?? '');

/** The file store's record.json, or null. */
function readFileRecord(storePath, id) {
  if (!/^[0-9A-Za-z]{10,40}$/.test(id)) return null;
  try {
    return JSON.parse(fs.readFileSync(path.join(storePath, 'records', id, 'record.json'), 'utf8'));
  } catch {
    return null;
  }
}

/**
 * The shared store. mode '' → one file store directory for every instance;
 * 'sentinel' → the Sentinel group. Returns { yaml, describe, group, load(),
 * readRecord(id), recordsBySoakId (after load; null for the file store), stop() }.
 */
export async function startSoakStore({ mode, tmpDir, waitReplicas, log }) {
  if (mode !== 'sentinel') {
    const storePath = path.join(tmpDir, 'store');
    fs.mkdirSync(storePath, { recursive: true });
    return {
      yaml: `{ type: file, path: ${JSON.stringify(storePath)} }`,
      describe: `file store ${storePath}`,
      group: null,
      load: async () => undefined,
      readRecord: (id) => readFileRecord(storePath, id),
      recordsBySoakId: null,
      stop: async () => undefined,
    };
  }
  const started = Date.now();
  const group = await startSentinelGroup(path.join(tmpDir, 'redis'), { minReplicasToWrite: waitReplicas });
  log(
    `redis: primary 127.0.0.1:${group.primary.port}, replica :${group.replica.port}, sentinels ${group.sentinels.map((s) => ':' + s.port).join(' ')} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  const sentinels = group.sentinels.map((s) => `{ host: 127.0.0.1, port: ${s.port} }`).join(', ');
  const records = new Map(); // record id -> record
  const bySoakId = new Map(); // X-Soak-Id -> [record ids]
  return {
    yaml: `{ type: redis, redisOptions: { sentinels: [${sentinels}], name: ${MASTER_NAME} }, redisWaitReplicas: ${waitReplicas} }`,
    describe: `redis through sentinel, store.redisWaitReplicas ${waitReplicas}${waitReplicas ? `, min-replicas-to-write ${waitReplicas}` : ''}`,
    group,
    /** Every record in Redis (through the sentinels: the primary now), with the X-Soak-Id of its message. */
    async load() {
      const client = new Redis({ sentinels: group.sentinels, name: MASTER_NAME, maxRetriesPerRequest: 2 });
      client.on('error', () => {});
      try {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${KEY_PREFIX}:rec:*`, 'COUNT', 1000);
          cursor = next;
          const ids = keys.map((k) => k.slice(`${KEY_PREFIX}:rec:`.length));
          const pipe = client.pipeline();
          for (const id of ids) pipe.hmget(`${KEY_PREFIX}:rec:${id}`, 'meta', 'status').getrange(`${KEY_PREFIX}:raw:${id}`, 0, 8191);
          const replies = ids.length ? await pipe.exec() : [];
          ids.forEach((id, i) => {
            const [meta, status] = replies[2 * i][1] ?? [];
            if (typeof meta !== 'string') return;
            records.set(id, { ...JSON.parse(meta), status });
            const soakId = /\r\nX-Soak-Id: (\d+)\r\n/i.exec(replies[2 * i + 1][1] ?? '')?.[1];
            if (soakId) bySoakId.set(soakId, [...(bySoakId.get(soakId) ?? []), id]);
          });
        } while (cursor !== '0');
      } finally {
        client.disconnect();
      }
    },
    readRecord: (id) => records.get(id) ?? null,
    recordsBySoakId: bySoakId,
    stop: () => group.stop(),
  };
}

/**
 * Kills the primary at `atMs` (epoch), then restarts it `restartAfterMs` after
 * the promotion, as a supervisor would, and waits until it is a replica of the
 * new primary. Resolves the timeline { killedAt, promotedAt, promotedPort, restartedAt, rejoinedAt }.
 */
export async function runFailover(group, atMs, { restartAfterMs = 2000 } = {}) {
  await sleep(Math.max(0, atMs - Date.now()));
  const { at: killedAt } = await group.killPrimary();
  process.stderr.write(`soak: SIGKILL redis primary :${group.primary.port}\n`);
  const promoted = await Promise.race([group.promotion, sleep(60_000).then(() => null)]);
  const timeline = { killedAt, promotedAt: promoted?.at ?? null, promotedPort: promoted?.port ?? null, restartedAt: null, rejoinedAt: null };
  if (!promoted) return timeline;
  process.stderr.write(`soak: sentinel promoted :${promoted.port} after ${promoted.at - killedAt} ms\n`);
  await sleep(restartAfterMs);
  timeline.restartedAt = (await group.restartPrimary()).at;
  timeline.rejoinedAt = (await group.waitForReplicaAt(promoted.port))?.at ?? null;
  return timeline;
}

function get(port, pathname, timeoutMs) {
  return new Promise((resolve) => {
    const started = Date.now();
    const req = http.get({ host: '127.0.0.1', port, path: pathname, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body, ms: Date.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ status: 0, body: error.message, ms: Date.now() - started }));
  });
}

/** /readyz every 250 ms and /metrics every second on each instance, until stop(). */
export function pollAdmin(instances) {
  const samples = instances.map(() => ({ ready: [], metrics: [] }));
  let stopped = false;
  const loops = instances.flatMap((inst, i) => [
    (async () => {
      while (!stopped) {
        const r = await get(inst.adminPort, '/readyz', 5000);
        samples[i].ready.push({ at: Date.now(), ok: r.status === 200, ms: r.ms, store: /"store":"([^"]*)"/.exec(r.body)?.[1] ?? '' });
        await sleep(250);
      }
    })(),
    (async () => {
      while (!stopped) {
        const r = await get(inst.adminPort, '/metrics', 10_000);
        const storeGauge = /^mailguard_ready_check\{check="store"\} (\d)/m.exec(r.body)?.[1] ?? null;
        samples[i].metrics.push({ at: Date.now(), status: r.status, ms: r.ms, storeGauge });
        await sleep(1000);
      }
    })(),
  ]);
  return {
    samples,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Per instance and total: sent, 250, 451, other, at upstream, in store, lost, duplicated (reconcile marks each message). */
export function printInstanceTable(messages, instanceCount, recordsBySoakId, log) {
  const row = () => ({ sent: 0, ok: 0, t451: 0, other: 0, upstream: 0, store: 0, lost: 0, dup: 0 });
  const rows = Array.from({ length: instanceCount }, row);
  const total = row();
  const dupWhy = { afterDotDrop: 0, storeFailed: 0, storeTwice: 0, unexplained: 0 };
  for (const m of messages) {
    const code = m.final?.code ?? 0;
    const storedTwice = m.where === 'store' && (recordsBySoakId?.get(String(m.id))?.length ?? 1) > 1;
    if (m.dup === 'possible') dupWhy.afterDotDrop++;
    // Copies that left before the store failed under the same attempt (the ledger could not record them): the 451's retry sends them again.
    else if (m.dup === 'unexplained' && m.attempts.some(isStoreTempfail)) dupWhy.storeFailed++;
    else if (m.dup === 'unexplained') dupWhy.unexplained++;
    if (storedTwice) dupWhy.storeTwice++;
    for (const r of [rows[m.instance ?? 0], total]) {
      r.sent++;
      if (code === 250) r.ok++;
      else if (code === 451) r.t451++;
      else r.other++;
      if (m.where === 'upstream') r.upstream++;
      if (m.where === 'store') r.store++;
      if (m.lost) r.lost++;
      if (m.dup || storedTwice) r.dup++;
    }
  }
  const cols = [
    ['instance', 9],
    ['sent', 7],
    ['250', 7],
    ['451', 6],
    ['other', 6],
    ['at upstream', 12],
    ['in store', 9],
    ['lost', 5],
    ['duplicated', 11],
  ];
  const line = (cells) => log(cells.map((c, i) => (i === 0 ? padR(c, cols[i][1]) : pad(c, cols[i][1]))).join(' '));
  line(cols.map(([h]) => h));
  log(cols.map(([, w]) => '-'.repeat(w)).join(' '));
  const cells = (name, r) => [name, r.sent, r.ok, r.t451, r.other, r.upstream, r.store, r.lost, r.dup];
  rows.forEach((r, i) => line(cells(`#${i + 1}`, r)));
  log(cols.map(([, w]) => '-'.repeat(w)).join(' '));
  line(cells('total', total));
  log(
    `duplicated: ${dupWhy.afterDotDrop} after the upstream's injected drop after the dot (allowed), ${dupWhy.storeFailed} sent again after a 451 for the store (allowed), ` +
      `${dupWhy.storeTwice} held twice in the store, ${dupWhy.unexplained} unexplained` +
      (recordsBySoakId ? '' : ' (store copies counted on Redis only)'),
  );
  return { total, dupWhy };
}

const rel = (t, t0) => (t === null || t === undefined ? 'n/a' : `${((t - t0) / 1000).toFixed(2)} s`);

/**
 * The failover window from the replies: every attempt answered 451 because the
 * store was unavailable, and every 250, placed against the kill, the promotion
 * and the old primary's return. Returns the failed checks (strings).
 */
export function printFailoverWindow(messages, timeline, admin, instances, log) {
  const { killedAt, promotedAt, restartedAt, rejoinedAt } = timeline;
  const t0 = killedAt;
  log(`SIGKILL of the primary at +0 s; Sentinel promoted the replica at ${rel(promotedAt, t0)} (+switch-master)`);
  log(`old primary restarted at ${rel(restartedAt, t0)}, a replica of the new primary again at ${rel(rejoinedAt, t0)}`);
  const attempts = messages.flatMap((m) => m.attempts.map((a) => ({ ...a, m })));
  const tempfails = attempts.filter(isStoreTempfail);
  const before = tempfails.filter((a) => a.at < killedAt);
  const after = tempfails.filter((a) => a.at >= killedAt);
  const first = after.length ? Math.min(...after.map((a) => a.at)) : null;
  const last = after.length ? Math.max(...after.map((a) => a.at)) : null;
  const inWindow = (a) => a.at >= killedAt && promotedAt !== null && a.at <= promotedAt;
  const ok = attempts.filter((a) => a.code === 250 && inWindow(a));
  const okLost = ok.filter((a) => a.m.lost).length;
  log(
    `451 (store unavailable): ${before.length} before the kill, ${after.length} after it; first at ${rel(first, t0)}, last at ${rel(last, t0)}: window ${first === null ? 'n/a' : ((last - first) / 1000).toFixed(2) + ' s'}`,
  );
  if (rejoinedAt) {
    const late = after.filter((a) => promotedAt && a.at > promotedAt);
    const byKind = new Map();
    for (const a of late) byKind.set(a.m.kind, (byKind.get(a.m.kind) ?? 0) + 1);
    log(
      `  of those after the promotion: ${late.length} (${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}); until the old primary rejoined no replica could confirm a durable write`,
    );
  }
  log(`250 replies between the kill and the promotion: ${ok.length} (${okLost} of them lost; a 250 there comes from store work done before the kill)`);
  for (const [i, inst] of instances.entries()) {
    const ready = admin.samples[i].ready.filter((s) => s.at >= killedAt - 1000);
    const down = ready.find((s) => !s.ok && s.at >= killedAt);
    const up = down ? ready.find((s) => s.ok && s.at > down.at) : null;
    const metrics = admin.samples[i].metrics.filter((s) => s.at >= killedAt && (!up || s.at <= up.at + 1000));
    const slowest = metrics.length ? Math.max(...metrics.map((s) => s.ms)) : null;
    log(
      `  instance #${i + 1} (:${inst.smtpPort}): /readyz not ready from ${rel(down?.at, t0)} to ${rel(up?.at, t0)}${down ? ` (store: ${down.store.slice(0, 70)})` : ''}; ` +
        `/metrics during it: ${metrics.length} scrapes, ${metrics.filter((s) => s.status !== 200).length} failed, slowest ${slowest ?? 'n/a'} ms, ` +
        `store check gauge ${[...new Set(metrics.map((s) => s.storeGauge))].join('→') || 'n/a'}`,
    );
  }
  const failures = [];
  if (promotedAt === null) failures.push('Sentinel did not promote the replica within 60 s');
  if (okLost) failures.push(`${okLost} message(s) answered 250 during the failover window are lost`);
  if (promotedAt !== null && after.length === 0) failures.push('no 451 after the kill: the window was not exercised (SOAK_SECONDS too short?)');
  return failures;
}
