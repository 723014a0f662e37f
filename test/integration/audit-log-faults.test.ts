// The audit log when what is stored is not what mail-guard wrote: a line torn
// by a crash mid-append, an entry changed by hand. Store-specific, so outside
// the contract suite; the same real file store and redis-server.

import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AuditLogCorruptError, verifyChain } from '../../src/store/audit-chain.js';
import { openFileStore } from '../../src/store/file-store.js';
import { StoreUnavailableError, type MessageStore } from '../../src/store/message-store.js';
import { openRedisStore } from '../../src/store/redis-store.js';
import { startRedisServer } from '../helpers/redis-server.js';

const entry = (i: number) => ({ actor: 'ops-alice', action: 'approve' as const, target: `id-${i}`, note: i % 2 ? 'a note' : null });

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function fileStore(): Promise<{ store: MessageStore; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'mail-guard-audit-faults-'));
  const store = await openFileStore(dir);
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  cleanups.push(() => store.close());
  return { store, file: join(dir, 'audit', 'audit.jsonl') };
}

describe('file audit log', () => {
  it('skips a line torn by a crash mid-append (never acknowledged); the next append cuts it off and the chain goes on', async () => {
    const { store, file } = await fileStore();
    for (let i = 0; i < 3; i++) await store.audit.append(entry(i));
    await appendFile(file, '{"seq":4,"at":"2026-01-01T0');
    expect((await store.audit.read({ limit: 10 })).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(await store.audit.append(entry(3))).toMatchObject({ seq: 4 });
    const text = await readFile(file, 'utf8');
    expect(text.split('\n')).toHaveLength(5);
    expect(text).not.toContain('"at":"2026-01-01T0"');
    expect(verifyChain(await store.audit.read({ limit: 10 }))).toMatchObject({ ok: true, count: 4 });
  });

  it('reads the file as it is now after it was changed, not through a stale index of where lines start', async () => {
    const { store, file } = await fileStore();
    for (let i = 0; i < 4; i++) await store.audit.append(entry(i));
    expect((await store.audit.read({ after: 2, limit: 2 })).map((e) => e.target)).toEqual(['id-2', 'id-3']);
    const lines = (await readFile(file, 'utf8')).split('\n');
    // The first line grows by some bytes (its hash no longer matches): every later line moves.
    lines[0] = lines[0]!.replace('"target":"id-0"', '"target":"id-0-and-then-some"');
    await writeFile(file, lines.join('\n'));
    expect((await store.audit.read({ after: 2, limit: 2 })).map((e) => e.target)).toEqual(['id-2', 'id-3']);
    expect(verifyChain(await store.audit.read({ limit: 10 }))).toMatchObject({ ok: false, bad: { seq: 1, fault: 'edited' } });
  });

  it('refuses to read past a line that is not an entry (AuditLogCorruptError naming it), and to chain onto one (fails closed)', async () => {
    const { store, file } = await fileStore();
    for (let i = 0; i < 3; i++) await store.audit.append(entry(i));
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines[1] = 'not json';
    await writeFile(file, lines.join('\n'));
    await expect(store.audit.read({ limit: 10 })).rejects.toThrow(AuditLogCorruptError);
    await expect(store.audit.read({ limit: 10 })).rejects.toMatchObject({ position: 2 });
    expect(await store.audit.read({ limit: 1 })).toHaveLength(1);

    await appendFile(file, '{"seq":4}\n');
    await expect(store.audit.append(entry(4))).rejects.toThrow(StoreUnavailableError);
    expect((await readFile(file, 'utf8')).endsWith('{"seq":4}\n')).toBe(true);
  });
});

const redis = await startRedisServer();
afterAll(async () => {
  await redis?.stop();
});

describe.skipIf(!redis)('redis audit log', () => {
  it('refuses to chain onto a last element that is not an entry (fails closed), and names a bad one on read', async () => {
    const keyPrefix = `t-${randomBytes(6).toString('hex')}`;
    const store = await openRedisStore({ url: redis!.url, keyPrefix });
    cleanups.push(() => store.close());
    const client = new Redis(redis!.url);
    cleanups.push(async () => void client.disconnect());
    for (let i = 0; i < 2; i++) await store.audit.append(entry(i));
    await client.rpush(`{${keyPrefix}}:audit:log`, '{"seq":3}');
    await expect(store.audit.append(entry(3))).rejects.toThrow(StoreUnavailableError);
    expect(await client.llen(`{${keyPrefix}}:audit:log`)).toBe(3);
    await expect(store.audit.read({ limit: 10 })).rejects.toMatchObject({ name: 'AuditLogCorruptError', position: 3 });
    expect(await store.audit.read({ limit: 2 })).toHaveLength(2);
  });

  it('answers StoreUnavailableError when the log cannot be read or written (a key of the wrong type)', async () => {
    const keyPrefix = `t-${randomBytes(6).toString('hex')}`;
    const store = await openRedisStore({ url: redis!.url, keyPrefix });
    cleanups.push(() => store.close());
    const client = new Redis(redis!.url);
    cleanups.push(async () => void client.disconnect());
    await client.set(`{${keyPrefix}}:audit:log`, 'a string, not a list');
    await expect(store.audit.append(entry(0))).rejects.toThrow(StoreUnavailableError);
    await expect(store.audit.read({ limit: 1 })).rejects.toThrow(StoreUnavailableError);
  });
});
