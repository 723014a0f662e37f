#!/usr/bin/env node
// Scenario "store", in its own process: the file store from PROJECT_DIR/dist/store
// with RECORDS records (every 100th held, the rest captured), each put fsynced as
// the proxy writes them, 64 puts at a time. Then a second store instance on the
// same directory (an empty index, as after a restart) lists the held records,
// lists them again, lists without a filter, pages once, and counts by status.
// Prints one JSON line:
// { ok, records, putMs, putsPerSec, timings: { label: ms }, check } or { ok: false, reason }.
// `check` is null when every listing returned what it must (newest first, the right
// page, the right counts), else what was wrong: a figure from a wrong answer is no
// figure. (The same listing at a small count is a correctness test in
// test/integration/file-store.test.ts.)
//
//   node bench/file-store.mjs PROJECT_DIR [RECORDS]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const projectDir = path.resolve(process.argv[2] ?? process.cwd());
const count = Math.max(200, Math.min(1_000_000, Math.round(Number(process.argv[3] ?? 10000)) || 10000));
const LIMIT = 50;
const CONCURRENT_PUTS = 64;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** A ULID of time `ms`, as the proxy names records (built here: the bench does not depend on where src keeps its own). */
function ulid(ms) {
  let time = '';
  for (let i = 0, t = ms; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  let rest = '';
  for (const byte of randomBytes(16)) rest += CROCKFORD[byte % 32];
  return time + rest;
}

/** A record as the proxy stores one (the fields of test/helpers/store-records.ts). */
function record(at, status) {
  return {
    id: ulid(at),
    receivedAt: new Date(at).toISOString(),
    status,
    envelope: { mailFrom: 'news@example.co.jp', rcptTo: ['a@ext1.example', 'b@ext2.example'] },
    client: { address: '127.0.0.1', authUser: null },
    from: 'news@example.co.jp',
    subject: 'Spring campaign — 春のキャンペーン',
    messageId: '<m1@example.co.jp>',
    size: 42,
    sha256: '0'.repeat(64),
    analysis: {
      visibleCount: 3,
      visibleExternalCount: 2,
      exposedExternalCount: 2,
      exposedExternalDomainCount: 2,
      exposingHeaders: ['To'],
      truncated: false,
      exposedExternal: ['a***@ext1.example', 'b***@ext2.example'],
    },
    verdict: { rule: 'default', action: 'quarantine', violation: true, reason: '2 external addresses visible' },
    history: [{ at: new Date(at).toISOString(), actor: 'mail-guard', action: status, note: null }],
  };
}

async function main() {
  let openFileStore;
  try {
    ({ openFileStore } = await import(pathToFileURL(path.join(projectDir, 'dist/store/file-store.js')).href));
  } catch (error) {
    return { ok: false, reason: `cannot load ${projectDir}/dist/store/file-store.js (npm run build): ${error?.message ?? error}` };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'mail-guard-bench-store-'));
  const opened = [];
  try {
    const writer = await openFileStore(dir);
    opened.push(writer);
    const base = Date.now() - 30 * 86_400_000;
    const records = Array.from({ length: count }, (_, i) => record(base + i * 1000, i % 100 === 0 ? 'held' : 'captured'));
    const body = [Buffer.from('Subject: hi\r\n\r\nhello\r\n')];
    const putStart = performance.now();
    for (let i = 0; i < records.length; i += CONCURRENT_PUTS) {
      await Promise.all(records.slice(i, i + CONCURRENT_PUTS).map((r) => writer.put(r, body)));
    }
    const putMs = performance.now() - putStart;

    const timings = {};
    const time = async (label, fn) => {
      const start = performance.now();
      const result = await fn();
      timings[label] = Math.round(performance.now() - start);
      return result;
    };
    // A second instance starts with an empty index, as after a restart.
    const fresh = await openFileStore(dir);
    opened.push(fresh);
    const coldHeld = await time('held, first call after open', () => fresh.list({ status: 'held', limit: LIMIT }));
    const warmHeld = await time('held, again', () => fresh.list({ status: 'held', limit: LIMIT }));
    const newest = await time('no filter', () => fresh.list({ limit: LIMIT }));
    const second = await time('no filter, page 2', () => fresh.list({ limit: LIMIT, cursor: newest.nextCursor }));
    const counts = await time('countByStatus', () => fresh.countByStatus());

    const held = records.filter((r) => r.status === 'held').reverse();
    const ids = (page) => page.records.map((r) => r.id).join(',');
    const wrong = [];
    if (ids(coldHeld) !== ids(warmHeld)) wrong.push('held: the first and second listing differ');
    if (
      ids(coldHeld) !==
      held
        .slice(0, LIMIT)
        .map((r) => r.id)
        .join(',')
    )
      wrong.push('held: not the newest held records, newest first');
    if (newest.records[0]?.id !== records[count - 1].id) wrong.push('no filter: not newest first');
    if (second.records[0]?.id !== records[count - 1 - LIMIT].id) wrong.push('page 2 does not follow page 1');
    if (counts.held !== held.length || counts.captured !== count - held.length) wrong.push(`countByStatus ${JSON.stringify(counts)}`);
    return {
      ok: true,
      records: count,
      putMs: Math.round(putMs),
      putsPerSec: Math.round((count * 1000) / putMs),
      timings,
      check: wrong.length ? wrong.join('; ') : null,
    };
  } finally {
    for (const store of opened) await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (result) => {
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(0);
  },
  (error) => {
    process.stdout.write(JSON.stringify({ ok: false, reason: String(error?.stack ?? error).slice(0, 1000) }) + '\n');
    process.exit(0);
  },
);
