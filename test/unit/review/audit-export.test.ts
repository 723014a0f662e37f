import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditCsvHeader, auditCsvRow, csvField, exportAudit } from '../../../src/review/audit-export.js';
import { recordAudit } from '../../../src/review/audit.js';
import { openFileStore } from '../../../src/store/file-store.js';
import type { MessageStore } from '../../../src/store/message-store.js';
import { verifyChain, type AuditEntry } from '../../../src/store/audit-chain.js';

describe('CSV fields', () => {
  it.each([
    ['plain', 'plain'],
    ['a, b', '"a, b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['cr\r', '"cr\r"'],
    ['=1+1', "'=1+1"],
    ['+81 3 1234', "'+81 3 1234"],
    ['-2', "'-2"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tindented', "'\tindented"],
    ['＝1+1', "'＝1+1"],
    ['=HYPERLINK("http://x", "y")', `"'=HYPERLINK(""http://x"", ""y"")"`],
    ['=a,\n"b"', `"'=a,\n""b"""`],
    ['a=b', 'a=b'],
    ['', ''],
  ])('%j → %j', (value, expected) => {
    expect(csvField(value)).toBe(expected);
  });

  it('writes null as an empty field and numbers as they are', () => {
    expect(csvField(null)).toBe('');
    expect(csvField(12)).toBe('12');
  });

  it('starts the file with a byte order mark and the column names; one CRLF record per entry', () => {
    expect(auditCsvHeader()).toBe('\ufeffseq,at,actor,action,target,note,prev,hash\r\n');
    const entry: AuditEntry = {
      seq: 7,
      at: '2026-01-01T09:00:00.000Z',
      actor: 'ops-alice',
      action: 'discard',
      target: null,
      note: '-spam, "really"',
      prev: '0'.repeat(64),
      hash: 'f'.repeat(64),
    };
    expect(auditCsvRow(entry)).toBe(`7,2026-01-01T09:00:00.000Z,ops-alice,discard,,"'-spam, ""really""",${'0'.repeat(64)},${'f'.repeat(64)}\r\n`);
  });
});

describe('exportAudit', () => {
  let dir: string;
  let store: MessageStore;
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('streams the whole log page by page, from `after` on, as JSONL that verifies or as CSV', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mail-guard-audit-export-'));
    store = await openFileStore(dir);
    for (let i = 0; i < 5; i++) await recordAudit(store, { name: `ops-${i}`, role: 'reviewer' }, 'view-raw', `id-${i}`, null);
    const collect = async (gen: AsyncGenerator<string>) => {
      let text = '';
      for await (const chunk of gen) text += chunk;
      return text;
    };
    const jsonl = await collect(exportAudit(store.audit, 'jsonl', { pageSize: 2 }));
    const values = jsonl
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    expect(values).toEqual(await store.audit.read({ limit: 10 }));
    expect(verifyChain(values)).toMatchObject({ ok: true, count: 5 });

    const since = await collect(exportAudit(store.audit, 'jsonl', { after: 3, pageSize: 2 }));
    expect(
      since
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as AuditEntry).seq),
    ).toEqual([4, 5]);

    const csv = await collect(exportAudit(store.audit, 'csv', { pageSize: 2 }));
    expect(csv.split('\r\n').map((row) => row.split(',')[2])).toEqual(['actor', 'ops-0', 'ops-1', 'ops-2', 'ops-3', 'ops-4', undefined]);
  });

  it('cuts a note longer than the store takes, and keeps the actor as the reviewer’s name', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mail-guard-audit-export-'));
    store = await openFileStore(dir);
    const entry = await recordAudit(store, { name: 'ops-alice', role: 'approver' }, 'release', 'x', 'n'.repeat(5000));
    expect(entry.actor).toBe('ops-alice');
    expect(entry.note).toHaveLength(4000);
    expect(entry.note!.endsWith('n…')).toBe(true);
  });
});
