// `mail-guard audit verify|export`, the built CLI run as an operator runs it,
// against a log written by real review actions, in the file store and in Redis;
// then one entry is edited, deleted or reordered directly in the file or in
// Redis, and verify must exit 1 naming the first bad seq.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { recordAudit } from '../../src/review/audit.js';
import { approveMessage, discardMessage, rawForReviewer } from '../../src/review/review-actions.js';
import type { AuditEntry } from '../../src/store/audit-chain.js';
import { openStore } from '../../src/store/open-store.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { body, makeRecord } from '../helpers/store-records.js';

const run = promisify(execFile);
const CLI = resolve('dist/cli/main.js');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, MAIL_GUARD_CONFIG: '' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A store backend as the operator has it, and the ways one could change its log behind mail-guard's back. */
interface Backend {
  readonly config: string;
  lines(): Promise<string[]>;
  /** Replaces the entry at a 0-based index with this text. */
  edit(index: number, text: string): Promise<void>;
  remove(index: number): Promise<void>;
  swap(i: number, j: number): Promise<void>;
  /** Drops the newest n entries. */
  truncate(n: number): Promise<void>;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mail-guard-audit-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const redis = await startRedisServer();
afterAll(async () => {
  await redis?.stop();
});

/** A run of review actions through review/, as the API and the UI make them: ten entries. */
async function runOfActions(configPath: string): Promise<void> {
  const config = parseConfigText(await readFile(configPath, 'utf8'));
  const store = await openStore(config.store);
  try {
    const alice = { name: 'ops-alice', role: 'reviewer' as const };
    const carol = { name: 'ops-carol', role: 'approver' as const };
    await recordAudit(store, alice, 'sign-in', null, null);
    await recordAudit(store, carol, 'sign-in', null, null);
    const [a, b, c] = [makeRecord(), makeRecord(), makeRecord()];
    for (const r of [a, b, c]) await store.put(r, body());
    await rawForReviewer(store, alice, a.id);
    await approveMessage({ store }, alice, a.id, 'looks fine');
    await recordAudit(store, carol, 'reveal', a.id, 'To');
    await discardMessage({ store }, carol, b.id, 'test send, "ignore", =1+1');
    await approveMessage({ store }, carol, c.id, null);
    await recordAudit(store, carol, 'breaker-reset', 'ext-one.example', null);
    await recordAudit(store, alice, 'sign-out', null, null);
    await recordAudit(store, carol, 'sign-out', null, null);
  } finally {
    await store.close();
  }
}

function backendSuite(name: string, open: () => Promise<Backend>, skip = false): void {
  describe.skipIf(skip)(`mail-guard audit, ${name} store`, () => {
    let backend: Backend;
    let log: AuditEntry[];
    beforeEach(async () => {
      backend = await open();
      await runOfActions(backend.config);
      log = (await backend.lines()).map((l) => JSON.parse(l) as AuditEntry);
    });

    it('verify passes after a run of actions and prints the last hash; an export verifies too, also against that anchor', async () => {
      expect(log.map((e) => e.action)).toEqual([
        'sign-in',
        'sign-in',
        'view-raw',
        'approve',
        'reveal',
        'discard',
        'approve',
        'breaker-reset',
        'sign-out',
        'sign-out',
      ]);
      const last = log.at(-1)!;
      const verified = await cli('audit', 'verify', '-c', backend.config);
      expect(verified).toMatchObject({ code: 0, stderr: '' });
      expect(verified.stdout).toBe(`audit log intact: 10 entries, ${log[0]!.at} to ${last.at}; last hash ${last.hash}\n`);

      const exported = await cli('audit', 'export', '-c', backend.config);
      expect(exported.code).toBe(0);
      expect(exported.stdout).toBe((await backend.lines()).map((l) => l + '\n').join(''));
      const file = join(dir, `${name}-export.jsonl`);
      await writeFile(file, exported.stdout);
      expect(await cli('audit', 'verify', '--file', file, '--expect-last', last.hash)).toMatchObject({ code: 0, stdout: verified.stdout });
      expect((await cli('audit', 'verify', '-c', backend.config, '--expect-last', log[4]!.hash)).code).toBe(0);

      const csv = await cli('audit', 'export', '-c', backend.config, '--format', 'csv');
      expect(csv.code).toBe(0);
      expect(csv.stdout.startsWith('\ufeffseq,at,actor,action,target,note,prev,hash\r\n')).toBe(true);
      expect(csv.stdout).toContain(`,ops-carol,discard,${log[5]!.target},"test send, ""ignore"", =1+1",`);
    });

    it('names an entry edited in place (its hash kept): exit 1, seq 3, edited', async () => {
      await backend.edit(2, JSON.stringify({ ...log[2]!, actor: 'someone-else' }));
      const r = await cli('audit', 'verify', '-c', backend.config);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe(
        `audit log BROKEN at seq 3 (${log[2]!.at}): edited: its content does not match its hash: a field was changed after it was written\n`,
      );
    });

    it('names an entry replaced by something that is not an entry: exit 1, seq 4, edited', async () => {
      await backend.edit(3, '{"seq":4,"note":"gone"}');
      const r = await cli('audit', 'verify', '-c', backend.config);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^audit log BROKEN at seq 4: edited: entry #4 is not a well-formed audit entry/);
    });

    it('names an entry deleted: exit 1, seq 6, removed', async () => {
      await backend.remove(5);
      const r = await cli('audit', 'verify', '-c', backend.config);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe(`audit log BROKEN at seq 6: removed: seq 6 is missing: seq 5 is followed by seq 7 (${log[6]!.at})\n`);
    });

    it('names two entries swapped: exit 1, seq 3, reordered', async () => {
      await backend.swap(2, 3);
      const r = await cli('audit', 'verify', '-c', backend.config);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`^audit log BROKEN at seq 3 \\(${log[2]!.at.replace(/\./g, '\\.')}\\): reordered: `));
    });

    it('cannot see the newest entries cut off by itself, but fails against the hash printed earlier', async () => {
      const anchor = (await cli('audit', 'verify', '-c', backend.config)).stdout.match(/last hash ([0-9a-f]{64})$/m)![1]!;
      await backend.truncate(2);
      expect((await cli('audit', 'verify', '-c', backend.config)).code).toBe(0);
      const r = await cli('audit', 'verify', '-c', backend.config, '--expect-last', anchor);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^audit log BROKEN at seq 9: truncated: no entry has the expected hash/);
    });
  });
}

backendSuite('file', async () => {
  const root = await mkdtemp(join(dir, 'file-'));
  const config = join(root, 'mail-guard.yaml');
  await writeFile(config, `store: { type: file, path: ${JSON.stringify(join(root, 'store'))} }\n`);
  const path = join(root, 'store', 'audit', 'audit.jsonl');
  const lines = async () => (await readFile(path, 'utf8')).split('\n').slice(0, -1);
  const rewrite = async (change: (lines: string[]) => void) => {
    const all = await lines();
    change(all);
    await writeFile(path, all.map((l) => l + '\n').join(''));
  };
  return {
    config,
    lines,
    edit: (index, text) => rewrite((all) => void (all[index] = text)),
    remove: (index) => rewrite((all) => void all.splice(index, 1)),
    swap: (i, j) => rewrite((all) => void ([all[i], all[j]] = [all[j]!, all[i]!])),
    truncate: (n) => rewrite((all) => void all.splice(all.length - n, n)),
  };
});

const KEY = '{mail-guard}:audit:log';
let client: Redis | null = null;
afterEach(async () => {
  await client?.flushall();
});
afterAll(() => {
  client?.disconnect();
});

backendSuite(
  'redis',
  async () => {
    client ??= new Redis(redis!.url);
    const c = client;
    const config = join(await mkdtemp(join(dir, 'redis-')), 'mail-guard.yaml');
    await writeFile(config, `store: { type: redis, url: "${redis!.url}" }\n`);
    return {
      config,
      lines: () => c.lrange(KEY, 0, -1),
      edit: async (index, text) => void (await c.lset(KEY, index, text)),
      remove: async (index) => void (await c.lrem(KEY, 1, (await c.lindex(KEY, index))!)),
      swap: async (i, j) => {
        const [a, b] = [(await c.lindex(KEY, i))!, (await c.lindex(KEY, j))!];
        await c.lset(KEY, i, b);
        await c.lset(KEY, j, a);
      },
      truncate: async (n) => void (await c.ltrim(KEY, 0, -1 - n)),
    };
  },
  !redis,
);

describe('mail-guard audit: usage and store errors exit 2', () => {
  it('refuses -c with --file, a malformed --expect-last, an unreadable file, an unknown format', async () => {
    const config = join(dir, 'usage.yaml');
    await writeFile(config, `store: { type: file, path: ${JSON.stringify(join(dir, 'usage-store'))} }\n`);
    const cases: string[][] = [
      ['verify', '-c', config, '--file', join(dir, 'x.jsonl')],
      ['verify', '--file', join(dir, 'x.jsonl'), '--expect-last', 'abc'],
      ['verify', '--file', join(dir, 'no-such-export.jsonl')],
      ['export', '-c', config, '--format', 'xml'],
      ['verify', '-c', join(dir, 'no-such-config.yaml')],
    ];
    for (const args of cases) {
      const r = await cli('audit', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toMatch(/^mail-guard: /);
    }
  });

  it('opens the store read only: a store directory that is not there is an error, and is not created', async () => {
    const path = join(dir, 'never-created');
    const config = join(dir, 'missing-store.yaml');
    await writeFile(config, `store: { type: file, path: ${JSON.stringify(path)} }\n`);
    const r = await cli('audit', 'verify', '-c', config);
    expect(r).toMatchObject({ code: 2, stdout: '', stderr: `mail-guard: no store directory at ${path} (store.path)\n` });
    expect(existsSync(path)).toBe(false);
  });

  it('fails with 2 when Redis cannot be reached', async () => {
    const config = join(dir, 'no-redis.yaml');
    // Port 1 on 127.0.0.1: nothing listens there.
    await writeFile(config, 'store: { type: redis, url: "redis://127.0.0.1:1" }\n');
    const r = await cli('audit', 'verify', '-c', config);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mail-guard: redis: cannot connect/);
  });
});
