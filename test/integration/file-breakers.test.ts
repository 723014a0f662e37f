// The file store's violation log (store/file-breakers.ts) beyond the shared
// contract: two processes' worth of instances on one directory count each
// other's violations from the log, and a compaction (rewriting the log with
// only what is still inside a window) keeps the counts of both.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileBreakers } from '../../src/store/file-breakers.js';

const LIMITS = { violations: 3, windowSeconds: 600, action: 'quarantine' as const };
const T0 = Date.parse('2026-12-01T09:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);

let dir: string;
const made: FileBreakers[] = [];
const breakers = (compactBytes?: number) => {
  const b = new FileBreakers(dir, () => false, compactBytes);
  made.push(b);
  return b;
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mail-guard-breakers-'));
});
afterEach(async () => {
  for (const b of made.splice(0)) await b.close();
  await rm(dir, { recursive: true, force: true });
});

describe('file breakers: the violation log', () => {
  it('a compaction keeps what is inside the window, for the instance that compacted and for the other', async () => {
    // Tiny threshold: the first opening compacts.
    const a = breakers(64);
    const b = breakers(64);
    // 40 other senders, long ago (outside the window by the time of the opening), and two recent ones.
    for (let i = 0; i < 40; i++) expect(await a.recordViolation(`old${i}@example.co.jp`, at(i), LIMITS)).toBeNull();
    expect(await b.recordViolation('recent@example.co.jp', at(2000), LIMITS)).toBeNull();
    expect(await a.recordViolation('recent@example.co.jp', at(2001), LIMITS)).toBeNull();
    const before = (await stat(join(dir, 'breaker-violations.log'))).size;

    // Three from one sender open its breaker; the opening compacts the log.
    expect(await a.recordViolation('news@example.co.jp', at(2002), LIMITS)).toBeNull();
    expect(await b.recordViolation('news@example.co.jp', at(2003), LIMITS)).toBeNull();
    const opened = await a.recordViolation('news@example.co.jp', at(2004), LIMITS);
    expect(opened).toMatchObject({ sender: 'news@example.co.jp', violations: 3 });
    const after = (await stat(join(dir, 'breaker-violations.log'))).size;
    expect(after).toBeLessThan(before);

    // Both instances still count recent@'s two violations: the third opens it, from either side.
    expect(await b.openFor('news@example.co.jp')).toEqual(opened);
    expect(await b.recordViolation('recent@example.co.jp', at(2005), LIMITS)).toMatchObject({ violations: 3 });
    // The old senders were dropped: two more violations of one of them do not open it.
    expect(await a.recordViolation('old1@example.co.jp', at(2006), LIMITS)).toBeNull();
    expect(await b.recordViolation('old1@example.co.jp', at(2007), LIMITS)).toBeNull();
    expect(await a.openFor('old1@example.co.jp')).toBeNull();
  });
});
