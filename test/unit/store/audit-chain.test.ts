import { describe, expect, it } from 'vitest';
import {
  auditHash,
  auditJsonLine,
  canonicalAuditForm,
  chainedEntry,
  checkAuditInput,
  GENESIS,
  parseAuditLine,
  verifyChain,
  type AuditAction,
  type AuditEntry,
  type ChainCheck,
} from '../../../src/store/audit-chain.js';

const ACTIONS: AuditAction[] = ['sign-in', 'view-raw', 'approve', 'release', 'discard', 'reveal', 'breaker-reset', 'sign-out'];

/** A chain of n entries, one second apart, built the way the stores build it. */
function chain(n: number): AuditEntry[] {
  const entries: AuditEntry[] = [];
  for (let i = 0; i < n; i++) {
    const input = { actor: i % 2 ? 'bob' : 'alice', action: ACTIONS[i % ACTIONS.length]!, target: i % 3 ? `01J${i}` : null, note: i % 4 ? `note ${i}` : null };
    entries.push(chainedEntry(entries.at(-1) ?? null, input, new Date(Date.UTC(2026, 0, 1, 9, 0, i))));
  }
  return entries;
}

function broken(check: ChainCheck) {
  if (check.ok) throw new Error('expected a broken chain, got an intact one');
  return check.bad;
}

describe('the audit chain', () => {
  it('links each entry to the one before: seq 1, 2, 3…, prev = the previous hash, GENESIS first', () => {
    const entries = chain(5);
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(entries[0]!.prev).toBe(GENESIS);
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.prev).toBe(entries[i - 1]!.hash);
    for (const e of entries) expect(e.hash).toBe(auditHash(e));
    expect(new Set(entries.map((e) => e.hash)).size).toBe(5);
  });

  it('hashes a canonical form that covers every field but the hash, in a fixed order', () => {
    const [e] = chain(1);
    const { hash: _hash, ...unhashed } = e!;
    // Key order of the object does not matter; every field does.
    const shuffled = { prev: e!.prev, note: e!.note, target: e!.target, action: e!.action, actor: e!.actor, at: e!.at, seq: e!.seq };
    expect(canonicalAuditForm(shuffled)).toBe(canonicalAuditForm(unhashed));
    for (const [field, value] of [
      ['seq', 2],
      ['at', '2026-01-01T09:00:01.000Z'],
      ['actor', 'mallory'],
      ['action', 'discard'],
      ['target', 'other'],
      ['note', 'changed'],
      ['prev', 'f'.repeat(64)],
    ] as const) {
      expect(auditHash({ ...unhashed, [field]: value }), field).not.toBe(e!.hash);
    }
    // null and the string "null" are different notes.
    expect(auditHash({ ...unhashed, note: 'null' })).not.toBe(auditHash({ ...unhashed, note: null }));
  });

  it('verifies an intact chain, and one stored as JSON lines and read back', () => {
    const entries = chain(12);
    const check = verifyChain(entries);
    expect(check).toEqual({ ok: true, count: 12, first: entries[0], last: entries[11] });
    expect(verifyChain(entries.map(auditJsonLine).map(parseAuditLine))).toEqual(check);
    expect(verifyChain([])).toEqual({ ok: true, count: 0, first: null, last: null });
  });

  it.each(['seq', 'at', 'actor', 'action', 'target', 'note', 'prev'] as const)('names an entry whose %s was changed: edited', (field) => {
    const entries = chain(6);
    const changed = {
      seq: 9,
      at: '2025-12-31T23:59:59.000Z',
      actor: 'mallory',
      action: 'sign-in',
      target: 'elsewhere',
      note: 'nothing to see',
      prev: 'a'.repeat(64),
    }[field];
    entries[3] = { ...entries[3]!, [field]: changed };
    const bad = broken(verifyChain(entries));
    expect(bad).toMatchObject({ seq: entries[3]!.seq, position: 4, fault: 'edited', at: entries[3]!.at });
    expect(bad.why).toMatch(/does not match its hash/);
  });

  it('names an entry removed from the middle or the start: removed, with the seq that is missing', () => {
    const entries = chain(6);
    const middle = broken(verifyChain([...entries.slice(0, 2), ...entries.slice(3)]));
    expect(middle).toMatchObject({ seq: 3, position: 3, fault: 'removed', at: null });
    expect(middle.why).toBe(`seq 3 is missing: seq 2 is followed by seq 4 (${entries[3]!.at})`);

    expect(broken(verifyChain(entries.slice(2)))).toMatchObject({
      seq: 1,
      fault: 'removed',
      why: expect.stringMatching(/^seq 1 to 2 are missing: the log starts/),
    });
  });

  it('names two entries swapped: reordered, not removed (the missing seq turns up later)', () => {
    const entries = chain(6);
    [entries[2], entries[3]] = [entries[3]!, entries[2]!];
    const bad = broken(verifyChain(entries));
    expect(bad).toMatchObject({ seq: 3, position: 3, fault: 'reordered', at: entries[3]!.at });
    // One moved far down reads the same.
    const moved = chain(6);
    const [second] = moved.splice(1, 1);
    expect(broken(verifyChain([...moved, second!]))).toMatchObject({ seq: 2, position: 2, fault: 'reordered' });
  });

  it('names an entry repeated or going back in seq: reordered', () => {
    const entries = chain(4);
    expect(broken(verifyChain([...entries.slice(0, 3), entries[1]!, entries[3]!]))).toMatchObject({ seq: 2, position: 4, fault: 'reordered' });
  });

  it('names an entry rewritten with a recomputed hash: its own hash is fine, the next one no longer links to it', () => {
    const entries = chain(5);
    const { hash: _hash, ...unhashed } = { ...entries[1]!, note: 'rewritten' };
    entries[1] = { ...unhashed, hash: auditHash(unhashed) };
    expect(broken(verifyChain(entries))).toMatchObject({ seq: 3, position: 3, fault: 'relinked', why: expect.stringMatching(/prev is not the hash of seq 2/) });

    // A whole log replaced by one with another start.
    const [first, ...rest] = chain(3);
    const { hash: _h, ...moved } = { ...first!, prev: 'b'.repeat(64) };
    expect(broken(verifyChain([{ ...moved, hash: auditHash(moved) }, ...rest]))).toMatchObject({ seq: 1, fault: 'relinked' });
  });

  it('names a line that is not an entry at all, or one with a field added: edited', () => {
    const entries = chain(4);
    const lines: unknown[] = entries.map(auditJsonLine).map(parseAuditLine);
    expect(broken(verifyChain([lines[0], parseAuditLine('{"seq":2,"at":'), ...lines.slice(2)]))).toMatchObject({ seq: 2, position: 2, fault: 'edited' });
    expect(broken(verifyChain([lines[0], { ...entries[1]!, approvedBy: 'mallory' }, ...lines.slice(2)]))).toMatchObject({ seq: 2, fault: 'edited' });
    expect(broken(verifyChain([lines[0], { ...entries[1]!, seq: '2' }]))).toMatchObject({ seq: 2, fault: 'edited' });
  });

  // Truncating the tail: a log cut after seq k is itself a valid chain of k
  // entries, so no check of the log alone can see it. Only an anchor kept
  // outside the log can: `audit verify` prints the last hash, and
  // `audit verify --expect-last <hash>` later fails if that entry is gone.
  it('cannot see a truncated tail by itself; an anchor (the last hash printed earlier) catches it', () => {
    const entries = chain(8);
    const anchor = entries[6]!.hash;
    expect(verifyChain(entries.slice(0, 5)).ok).toBe(true);
    expect(broken(verifyChain(entries.slice(0, 5), { expectLast: anchor }))).toMatchObject({ seq: 6, fault: 'truncated', at: null });
    // The log grew since the anchor was taken: still fine.
    expect(verifyChain(entries, { expectLast: anchor }).ok).toBe(true);
    // An anchor on an entry that is there but after the break does not hide the break.
    expect(broken(verifyChain([...entries.slice(0, 3), ...entries.slice(4)], { expectLast: anchor })).fault).toBe('removed');
  });

  it('refuses input the stores must not write', () => {
    const ok = { actor: 'alice', action: 'approve' as const, target: null, note: null };
    expect(checkAuditInput(ok)).toEqual(ok);
    expect(() => checkAuditInput({ ...ok, actor: '' })).toThrow(RangeError);
    expect(() => checkAuditInput({ ...ok, action: 'delete-everything' as AuditAction })).toThrow(RangeError);
    expect(() => checkAuditInput({ ...ok, note: 'x'.repeat(4001) })).toThrow(RangeError);
    expect(() => checkAuditInput({ ...ok, target: 'x'.repeat(501) })).toThrow(RangeError);
  });
});

describe('verifyChain over a part of the log (start)', () => {
  it('accepts a page that links to the entry before it, and names a page whose first link or numbering is wrong', () => {
    const log = chain(10);
    const page = log.slice(4, 8);
    expect(verifyChain(page, { start: { seq: 5, prev: log[3]!.hash } })).toMatchObject({ ok: true, count: 4 });
    // Without a start the page is not the log's beginning.
    expect(broken(verifyChain(page)).fault).toBe('removed');
    expect(broken(verifyChain(page, { start: { seq: 5, prev: log[2]!.hash } }))).toMatchObject({ fault: 'relinked', seq: 5 });
    expect(broken(verifyChain(log.slice(5, 8), { start: { seq: 5, prev: log[3]!.hash } }))).toMatchObject({ fault: 'removed', seq: 5 });
  });
});
