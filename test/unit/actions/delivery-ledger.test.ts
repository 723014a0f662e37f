import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeliveryLedger } from '../../../src/actions/delivery-ledger.js';

describe('DeliveryLedger', () => {
  it('remembers accepted recipients across a reopen (restart) and forgets on completion', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ledger-'));
    const path = join(dir, 'ledger.jsonl');
    const digest = DeliveryLedger.digest('news@example.co.jp', Buffer.from('message'));
    let ledger = await DeliveryLedger.open(path);
    expect(ledger.size).toBe(0);
    await ledger.recordAccepted(digest, ['A@ext1.com', 'b@ext2.com']);
    await ledger.close();

    ledger = await DeliveryLedger.open(path);
    expect([...(ledger.acceptedRecipients(digest) ?? [])].sort()).toEqual(['a@ext1.com', 'b@ext2.com']);
    await ledger.forget(digest);
    await ledger.close();

    ledger = await DeliveryLedger.open(path);
    expect(ledger.size).toBe(0);
    expect(await readFile(path, 'utf8')).toBe('');
    await ledger.close();
  });

  it('drops expired entries and ignores a torn last line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ledger-'));
    const path = join(dir, 'ledger.jsonl');
    const now = Date.now();
    await writeFile(
      path,
      JSON.stringify({ d: 'old', r: ['x@ext.com'], t: now - 8 * 24 * 3600 * 1000 }) + '\n' +
        JSON.stringify({ d: 'new', r: ['y@ext.com'], t: now }) + '\n' + '{"d":"torn","r":["z@',
    );
    const ledger = await DeliveryLedger.open(path, now);
    expect(ledger.acceptedRecipients('old')).toBeUndefined();
    expect(ledger.acceptedRecipients('torn')).toBeUndefined();
    expect([...(ledger.acceptedRecipients('new') ?? [])]).toEqual(['y@ext.com']);
    await ledger.close();
  });

  it('keys on sender and exact message bytes', () => {
    const a = DeliveryLedger.digest('s@x', Buffer.from('m'));
    expect(DeliveryLedger.digest('s@x', Buffer.from('m'))).toBe(a);
    expect(DeliveryLedger.digest('t@x', Buffer.from('m'))).not.toBe(a);
    expect(DeliveryLedger.digest('s@x', Buffer.from('m '))).not.toBe(a);
  });
});
