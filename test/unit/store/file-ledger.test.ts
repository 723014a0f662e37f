import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ledgerDigest } from '../../../src/actions/relay.js';
import { FileLedger } from '../../../src/store/file-ledger.js';

const HOUR = 3_600_000;
const message = (text: string) => ({ head: Buffer.from(text), rest: [], size: text.length });

describe("FileLedger (the file store's delivery ledger)", () => {
  it('remembers accepted recipients across a reopen (restart) and forgets on completion', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ledger-'));
    const path = join(dir, 'ledger.jsonl');
    const digest = ledgerDigest('news@example.co.jp', message('message'));
    let ledger = await FileLedger.open(path, 120 * HOUR);
    expect(ledger.mayHoldEntries).toBe(false);
    await ledger.recordAccepted(digest, ['A@ext1.com', 'b@ext2.com']);
    expect(ledger.mayHoldEntries).toBe(true);
    await ledger.close();

    ledger = await FileLedger.open(path, 120 * HOUR);
    expect([...(await ledger.acceptedRecipients(digest))].sort()).toEqual(['a@ext1.com', 'b@ext2.com']);
    await ledger.forget(digest);
    await ledger.close();

    ledger = await FileLedger.open(path, 120 * HOUR);
    expect(ledger.mayHoldEntries).toBe(false);
    expect(await readFile(path, 'utf8')).toBe('');
    await ledger.close();
  });

  it('drops entries older than store.ledgerHours (at open and at lookup) and ignores a torn last line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ledger-'));
    const path = join(dir, 'ledger.jsonl');
    let now = Date.now();
    await writeFile(
      path,
      JSON.stringify({ d: 'old', r: ['x@ext.com'], t: now - 121 * HOUR }) +
        '\n' +
        JSON.stringify({ d: 'new', r: ['y@ext.com'], t: now - 119 * HOUR }) +
        '\n' +
        '{"d":"torn","r":["z@',
    );
    const ledger = await FileLedger.open(path, 120 * HOUR, () => now);
    expect([...(await ledger.acceptedRecipients('old'))]).toEqual([]);
    expect([...(await ledger.acceptedRecipients('torn'))]).toEqual([]);
    expect([...(await ledger.acceptedRecipients('new'))]).toEqual(['y@ext.com']);
    now += 2 * HOUR; // the entry passes 120 h while the process runs
    expect([...(await ledger.acceptedRecipients('new'))]).toEqual([]);
    await ledger.close();
  });

  it('keys on sender and exact message bytes', () => {
    const a = ledgerDigest('s@x', message('m'));
    expect(ledgerDigest('s@x', message('m'))).toBe(a);
    expect(ledgerDigest('t@x', message('m'))).not.toBe(a);
    expect(ledgerDigest('s@x', message('m '))).not.toBe(a);
  });
});
