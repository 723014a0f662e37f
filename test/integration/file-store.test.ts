// File-store faults the shared contract cannot express: crashed writers,
// several processes on one directory, a broken directory, listing from a fresh instance.

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { THIS_HOST } from '../../src/store/durable-write.js';
import { openFileStore } from '../../src/store/file-store.js';
import { StoreUnavailableError, type MessageStore } from '../../src/store/message-store.js';
import { body, entry, expectConflict, lease, makeRecord } from '../helpers/store-records.js';

let dir: string;
const opened: MessageStore[] = [];
async function open(): Promise<MessageStore> {
  const store = await openFileStore(dir);
  opened.push(store);
  return store;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mail-guard-file-store-'));
});
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited: its temp files are a crashed writer's. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

describe('file store: crash mid-write', () => {
  it('shows no half-written record, and cleans what crashed writers left', async () => {
    const store = await open();
    const kept = makeRecord();
    await store.put(kept, body());
    await store.close();

    const crashed = makeRecord();
    const deadWriter = join(dir, 'tmp', `${crashed.id}.${THIS_HOST}.${await deadPid()}.0badc0de`);
    await mkdir(deadWriter);
    await writeFile(join(deadWriter, 'message.eml'), 'Subject: half of a mess');
    const ancient = join(dir, 'tmp', makeRecord().id);
    await mkdir(ancient);
    await writeFile(join(ancient, 'record.json'), '{"id":');
    await utimes(ancient, new Date(Date.now() - 2 * 3_600_000), new Date(Date.now() - 2 * 3_600_000));
    // A live writer (this process) mid-write must not lose its work to another process opening the store.
    const live = join(dir, 'tmp', `${makeRecord().id}.${THIS_HOST}.${process.pid}.feedface`);
    await mkdir(live);
    // A record.json rewrite that died before its rename.
    await writeFile(join(dir, 'records', kept.id, 'record.json.0123456789ab.tmp'), '{"status":"rel');

    const reopened = await open();
    expect(await reopened.get(crashed.id)).toBeNull();
    expect((await reopened.list({ limit: 50 })).records.map((r) => r.id)).toEqual([kept.id]);
    expect(await reopened.get(kept.id)).toEqual(kept);
    expect((await reopened.countByStatus()).held).toBe(1);
    expect((await readdir(join(dir, 'tmp'))).sort()).toEqual([live.split('/').at(-1)]);
  });

  it('breaks a lock left by a process that died holding it', async () => {
    const store = await open();
    const record = makeRecord();
    await store.put(record, body());
    const lock = join(dir, 'records', record.id, '.lock');
    await mkdir(lock);
    await utimes(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    expect((await store.transition(record.id, { from: ['held'], to: 'approved', entry: entry('approve') })).status).toBe('approved');
  });
});

describe('file store: several processes on one directory', () => {
  it('two store instances see each other’s writes and let exactly one claim win', async () => {
    const [a, b] = [await open(), await open()];
    const record = makeRecord({ status: 'approved' });
    await a.put(record, body());
    // b lists first, so its index has a cached status that a's transition must invalidate.
    expect((await b.list({ status: 'approved', limit: 5 })).records).toHaveLength(1);
    const other = makeRecord({ status: 'held' });
    await b.put(other, body());
    await a.transition(other.id, { from: ['held'], to: 'approved', entry: entry('approve') });
    expect((await b.list({ status: 'approved', limit: 5 })).records.map((r) => r.id).sort()).toEqual([record.id, other.id].sort());
    expect((await b.list({ status: 'held', limit: 5 })).records).toEqual([]);

    const claims = Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).claimRelease(record.id, ['approved'], lease()));
    const results = await Promise.allSettled(claims);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    await expectConflict(b.claimRelease(record.id, ['approved'], lease()), 'releasing');
    await b.completeRelease(record.id, entry('release'));
    await expectConflict(a.claimRelease(record.id, ['approved'], lease()), 'released');
  });

  it('real processes racing on 20 records: exactly one claim per record wins', async () => {
    const modules = await transpileStore();
    try {
      const store = await open();
      const records = Array.from({ length: 20 }, () => makeRecord({ status: 'approved' }));
      for (const record of records) await store.put(record, body());
      const ids = records.map((r) => r.id);
      const racers = Array.from({ length: 4 }, () => startRacer(modules, dir, ids));
      await Promise.all(racers.map((r) => r.ready));
      for (const racer of racers) racer.go();
      const outcomes = await Promise.all(racers.map((r) => r.done));
      for (const [i, id] of ids.entries()) {
        const perRecord = outcomes.flatMap((o) => o.slice(i * 5, i * 5 + 5));
        expect(
          perRecord.filter((x) => x === 'won'),
          id,
        ).toHaveLength(1);
        expect(
          perRecord.filter((x) => x !== 'won' && x !== 'lost'),
          id,
        ).toEqual([]);
      }
    } finally {
      await rm(modules, { recursive: true, force: true });
    }
  });
});

describe('file store: an unusable directory', () => {
  it('fails with StoreUnavailableError and leaves no half record', async () => {
    const store = await open();
    const before = makeRecord();
    await store.put(before, body());
    await rm(join(dir, 'records'), { recursive: true });
    await writeFile(join(dir, 'records'), 'not a directory');

    const record = makeRecord();
    await expect(store.put(record, body())).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.get(before.id)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.raw(before.id)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.list({ limit: 10 })).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.countByStatus()).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.transition(before.id, { from: ['held'], to: 'approved', entry: entry('approve') })).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    await expect(openFileStore(dir)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(openFileStore(join(dir, 'records', 'below-a-file'))).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});

// The timings at 10,000 records are a bench scenario (npm run bench, BENCH_ONLY=store:
// bench/file-store.mjs); here the same listings are checked for what they return.
describe('file store: listing a store it did not write', () => {
  // 400 records is more than one batch of the status index (256 files), and the
  // held page reaches across that boundary.
  const COUNT = 400;
  const LIMIT = 50;

  it('lists newest first with and without a status filter, from an instance with an empty index', async () => {
    const store = await open();
    const base = Date.now() - 30 * 86_400_000;
    const records = Array.from({ length: COUNT }, (_, i) => makeRecord({ at: base + i * 1000, status: i % 8 === 0 ? 'held' : 'captured' }));
    for (let i = 0; i < records.length; i += 64) await Promise.all(records.slice(i, i + 64).map((r) => store.put(r, body())));
    const heldNewestFirst = records.filter((r) => r.status === 'held').reverse();
    expect(heldNewestFirst).toHaveLength(LIMIT);

    // A second instance starts with an empty index, as after a restart.
    const fresh = await open();
    const coldHeld = await fresh.list({ status: 'held', limit: LIMIT });
    const warmHeld = await fresh.list({ status: 'held', limit: LIMIT });
    const newest = await fresh.list({ limit: LIMIT });
    const second = await fresh.list({ limit: LIMIT, cursor: newest.nextCursor! });
    const counts = await fresh.countByStatus();

    expect(coldHeld.records.map((r) => r.id)).toEqual(heldNewestFirst.map((r) => r.id));
    expect(warmHeld.records.map((r) => r.id)).toEqual(coldHeld.records.map((r) => r.id));
    expect(newest.records.map((r) => r.id)).toEqual(
      records
        .slice(COUNT - LIMIT)
        .reverse()
        .map((r) => r.id),
    );
    expect(second.records.map((r) => r.id)).toEqual(
      records
        .slice(COUNT - 2 * LIMIT, COUNT - LIMIT)
        .reverse()
        .map((r) => r.id),
    );
    expect(counts).toMatchObject({ held: LIMIT, captured: COUNT - LIMIT });
  });
});

/**
 * The file store compiled to plain JS in a temp dir, so child processes can
 * load it with node alone (no TypeScript loader is installed).
 */
async function transpileStore(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'mail-guard-store-js-'));
  await writeFile(join(out, 'package.json'), '{"type":"module"}');
  // The store and the folder below it that it imports (message ids), in the same layout.
  for (const folder of ['store', 'message']) {
    const src = fileURLToPath(new URL(`../../src/${folder}`, import.meta.url));
    await mkdir(join(out, folder));
    for (const name of await readdir(src)) {
      if (!name.endsWith('.ts') || name.startsWith('redis')) continue;
      const { outputText } = ts.transpileModule(await readFile(join(src, name), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      });
      await writeFile(join(out, folder, name.replace(/\.ts$/, '.js')), outputText);
    }
  }
  await writeFile(
    join(out, 'store', 'racer.js'),
    `import { openFileStore } from './file-store.js';
const [dir, ids] = [process.argv[2], JSON.parse(process.argv[3])];
const store = await openFileStore(dir);
process.stdout.write('ready\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
const claim = (id) => store.claimRelease(id, ['approved'], new Date(Date.now() + 300_000)).then(() => 'won', (e) => (e.name === 'StoreConflictError' ? 'lost' : 'error: ' + e.message));
const results = await Promise.all(ids.flatMap((id) => [0, 1, 2, 3, 4].map(() => claim(id))));
process.stdout.write(JSON.stringify(results) + '\\n');
process.exit(0);
`,
  );
  return out;
}

function startRacer(modules: string, storeDir: string, ids: string[]): { ready: Promise<void>; go(): void; done: Promise<string[]> } {
  const child = spawn(process.execPath, [join(modules, 'store', 'racer.js'), storeDir, JSON.stringify(ids)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (output.startsWith('ready\n')) markReady();
  });
  const done = new Promise<string[]>((resolve, reject) => {
    child.once('exit', (code) => {
      markReady(); // so a racer that died at start fails the test instead of hanging it
      const lines = output.trim().split('\n');
      if (code !== 0 || lines.length < 2) reject(new Error(`racer exited ${code}: ${output}`));
      else resolve(JSON.parse(lines.at(-1)!) as string[]);
    });
  });
  return { ready, go: () => child.stdin.write('go\n'), done };
}

describe('file store: the markers the delay scheduler reads (markers/due, markers/claims)', () => {
  it('a store without markers (older, or copied by hand) is marked once on open: due mail and a dead holder’s claim are found again', async () => {
    const first = await open();
    const past = new Date(Date.now() - 1000).toISOString();
    const due = makeRecord({ status: 'delayed', releaseAt: past });
    const claimed = makeRecord({ status: 'delayed', releaseAt: past });
    for (const r of [due, claimed]) await first.put(r, body());
    // A holder whose lease ran out a minute ago.
    await first.claimRelease(claimed.id, ['delayed'], new Date(Date.now() - 60_000));
    expect((await first.dueForRelease(new Date(), 10)).map((r) => r.id)).toEqual([due.id]);
    await first.close();
    opened.splice(0);

    await rm(join(dir, 'markers'), { recursive: true });
    const second = await open();
    expect((await second.dueForRelease(new Date(), 10)).map((r) => r.id)).toEqual([due.id]);
    expect((await second.expiredClaims(new Date(), 10)).map((c) => c.record.id)).toEqual([claimed.id]);
  });

  it('drops a marker whose record left the delay, and one whose record is gone once it is old enough', async () => {
    const store = await open();
    const past = new Date(Date.now() - 1000).toISOString();
    const discarded = makeRecord({ status: 'delayed', releaseAt: past });
    await store.put(discarded, body());
    await store.transition(discarded.id, { from: ['delayed'], to: 'discarded', entry: entry('discard') });
    const orphan = `${String(Date.parse(past)).padStart(15, '0')}.${makeRecord().id}`;
    await writeFile(join(dir, 'markers', 'due', orphan), '');
    const fresh = `${String(Date.parse(past)).padStart(15, '0')}.${makeRecord().id}`;
    await writeFile(join(dir, 'markers', 'due', fresh), '');
    const old = new Date(Date.now() - 120_000);
    await utimes(join(dir, 'markers', 'due', orphan), old, old);

    expect(await store.dueForRelease(new Date(), 10)).toEqual([]);
    // The discarded record's marker and the old orphan are gone; a fresh orphan may be a put still under way.
    expect(await readdir(join(dir, 'markers', 'due'))).toEqual([fresh]);
  });
});
