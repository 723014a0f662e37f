#!/usr/bin/env node
// The file store's per-record lock (dist/store/file-lock.js) and proper-lockfile
// 4.1.2 set up the way the store would need it, side by side, interleaved, in
// ONE invocation. Measures, never asserts. Not part of `npm run bench`.
//
//   npm run build
//   (cd /tmp/pl && npm i proper-lockfile@4.1.2)        # not a dependency of mail-guard
//   PROPER_LOCKFILE=/tmp/pl/node_modules/proper-lockfile node bench/file-lock.mjs
//
// Environment: LOCK_BENCH_DIR (default: a temp dir under os.tmpdir(); point it at
// the disk the store lives on), LOCK_BENCH_ROUNDS=3 (the median round is printed).
//
// Scenarios (CPU and wall µs per lock+unlock cycle; lower is better; on a busy machine
// trust CPU more than wall):
//   sequential    one record, 2,000 cycles one after another
//   256 records   256 records at once, 10 cycles each (a purge or a burst of reviews)
//   contended     8 workers on ONE record without the in-process queue, 50 cycles each:
//                 what separate processes sharing the store path do (polling + backoff)
//   store update  for scale: one appendHistory through the file store (lock + read +
//                 fsync'd record.json rewrite + directory fsync), 300 in a row
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '..', 'dist', 'store');
const { withDirLock } = await import(path.join(dist, 'file-lock.js'));
const { openFileStore } = await import(path.join(dist, 'file-store.js'));

const require = createRequire(import.meta.url);
let properLockfile;
try {
  properLockfile = require(process.env.PROPER_LOCKFILE ?? 'proper-lockfile');
} catch {
  process.stderr.write('proper-lockfile not found: install it outside the repo and set PROPER_LOCKFILE (see the header)\n');
  process.exit(1);
}

/**
 * Our wait schedule (2 ms + 1 ms per attempt, at most 25 ms, until 5 s) as a
 * retry array, built once: given a count and maxRetryTime instead, the retry
 * module would build and sort an array of that many timeouts on every lock.
 */
const SCHEDULE = [];
for (let attempt = 0, total = 0; total < 5_000; attempt++) total += SCHEDULE[attempt] = Math.min(2 + attempt, 25) + 2.5;

/** proper-lockfile as the store would have to call it: same lock dir, same 10 s staleness, ~5 s of waiting, no crash on compromise. */
function properLock(retries) {
  return async (lockPath, fn) => {
    const release = await properLockfile.lock(path.dirname(lockPath), {
      lockfilePath: lockPath,
      realpath: false,
      stale: 10_000,
      retries,
      onCompromised: () => undefined,
    });
    try {
      return await fn();
    } finally {
      await release().catch(() => undefined);
    }
  };
}

// "no retries" is the library's floor (mkdir, stat, rmdir and its update timer); it fails at once when
// the lock is taken, so it only runs where nothing contends.
/** Wall and CPU (user + system, all threads: libuv's pool does the file calls) µs per cycle. */
async function timed(cycles, fn) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await fn();
  const wall = ((performance.now() - start) * 1000) / cycles;
  const { user, system } = process.cpuUsage(cpu);
  return { wall, cpu: (user + system) / cycles };
}

const LOCKS = { ours: withDirLock, 'proper-lockfile': properLock(SCHEDULE), 'proper-lockfile, no retries': properLock(0) };
const nothing = async () => undefined;

async function sequential(lock, root) {
  const dir = path.join(root, 'seq');
  await mkdir(dir, { recursive: true });
  const n = 2_000;
  return timed(n, async () => {
    for (let i = 0; i < n; i++) await lock(path.join(dir, '.lock'), nothing);
  });
}

async function manyRecords(lock, root) {
  const dirs = Array.from({ length: 256 }, (_, i) => path.join(root, `rec-${i}`));
  await Promise.all(dirs.map((d) => mkdir(d, { recursive: true })));
  return timed(256 * 10, () =>
    Promise.all(
      dirs.map(async (d) => {
        for (let i = 0; i < 10; i++) await lock(path.join(d, '.lock'), nothing);
      }),
    ),
  );
}

async function contended(lock, root) {
  const dir = path.join(root, 'hot');
  await mkdir(dir, { recursive: true });
  let inside = 0;
  let overlaps = 0;
  const critical = async () => {
    if (++inside > 1) overlaps++;
    await new Promise((r) => setImmediate(r));
    inside--;
  };
  const result = await timed(8 * 50, () =>
    Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 50; i++) await lock(path.join(dir, '.lock'), critical);
      }),
    ),
  );
  if (overlaps) throw new Error(`lock let ${overlaps} holders overlap`);
  return result;
}

async function storeUpdate(root) {
  const store = await openFileStore(path.join(root, 'store'));
  const at = Date.now();
  const record = {
    id: '01' + 'J'.repeat(24),
    receivedAt: new Date(at).toISOString(),
    status: 'held',
    envelope: { mailFrom: 'a@example.com', rcptTo: ['b@example.net'] },
    client: { address: '127.0.0.1', authUser: null },
    from: 'a@example.com',
    subject: 'bench',
    messageId: '<bench@example.com>',
    size: 10,
    sha256: '0'.repeat(64),
    analysis: {
      visibleCount: 1,
      visibleExternalCount: 1,
      exposedExternalCount: 0,
      exposedExternalDomainCount: 0,
      exposingHeaders: [],
      truncated: false,
      exposedExternal: [],
    },
    verdict: { rule: 'default', action: 'quarantine', violation: true, reason: 'bench' },
    history: [],
  };
  await store.put(record, [Buffer.from('Subject: bench\r\n\r\nhi\r\n')]);
  const n = 300;
  const result = await timed(n, async () => {
    for (let i = 0; i < n; i++) await store.appendHistory(record.id, { at: new Date().toISOString(), actor: 'bench', action: 'view-raw', note: null });
  });
  await store.close();
  return result;
}

const rounds = Number(process.env.LOCK_BENCH_ROUNDS ?? 3);
const base = process.env.LOCK_BENCH_DIR ?? os.tmpdir();
const scenarios = { sequential, '256 records': manyRecords, contended };
const results = {};
for (let round = 0; round < rounds; round++) {
  // Alternate which lock goes first, so neither always gets the warm cache.
  const order = round % 2 ? Object.entries(LOCKS).reverse() : Object.entries(LOCKS);
  for (const [scenario, run] of Object.entries(scenarios)) {
    for (const [name, lock] of order) {
      if (scenario === 'contended' && name.endsWith('no retries')) continue;
      const root = await mkdtemp(path.join(base, 'mail-guard-lock-bench-'));
      try {
        ((results[scenario] ??= {})[name] ??= []).push(await run(lock, root));
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    }
  }
  const root = await mkdtemp(path.join(base, 'mail-guard-lock-bench-'));
  try {
    ((results['store update'] ??= {})['file store'] ??= []).push(await storeUpdate(root));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (runs, key) => `${median(runs.map((r) => r[key])).toFixed(1)} [${runs.map((r) => r[key].toFixed(0)).join(', ')}]`;
process.stdout.write(`file lock, µs per lock+unlock cycle: CPU (user+sys) and wall, median of ${rounds} rounds [every round], dir ${base}\n`);
for (const [scenario, byLock] of Object.entries(results)) {
  const ours = byLock.ours;
  const theirs = byLock['proper-lockfile'];
  const ratio = (key) => (median(theirs.map((r) => r[key])) / median(ours.map((r) => r[key]))).toFixed(2);
  process.stdout.write(`  ${scenario}${ours && theirs ? `: proper-lockfile/ours CPU ${ratio('cpu')}x, wall ${ratio('wall')}x` : ''}\n`);
  for (const [name, runs] of Object.entries(byLock)) process.stdout.write(`      ${name.padEnd(28)} CPU ${fmt(runs, 'cpu')}   wall ${fmt(runs, 'wall')}\n`);
}
