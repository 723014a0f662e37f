// Records and message bodies for the store tests.

import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { newMessageId } from '../../src/message/message-id.js';
import { StoreConflictError } from '../../src/store/message-store.js';
import type { HistoryEntry, MessageRecord, RecordStatus } from '../../src/store/record.js';

export const DAY_MS = 86_400_000;

/** A record received at `at` (ms), its id a ULID of that time, as the proxy makes them. */
export function makeRecord(overrides: Partial<MessageRecord> & { at?: number } = {}): MessageRecord {
  const { at = Date.now(), ...rest } = overrides;
  const status = rest.status ?? 'held';
  return {
    id: newMessageId(at),
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
    history: [entry(status, 'mail-guard', at)],
    ...rest,
  };
}

export function entry(action: string, actor = 'ops-alice', at = Date.now(), extra: Partial<HistoryEntry> = {}): HistoryEntry {
  return { at: new Date(at).toISOString(), actor, action, note: null, ...extra };
}

export function body(text = 'Subject: hi\r\n\r\nhello\r\n'): Buffer[] {
  return [Buffer.from(text)];
}

/** ~2 MB of every byte value (NUL, bare CR/LF, 0xFF…) cut into uneven chunks. */
export function binaryChunks(): Buffer[] {
  const all = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(2 * 1024 * 1024)]);
  const cuts = [1, 7, 255, 65_536, 1_000_000];
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const cut of cuts) {
    chunks.push(all.subarray(offset, offset + cut));
    offset += cut;
  }
  chunks.push(all.subarray(offset));
  return chunks;
}

/** Asserts a promise rejects with StoreConflictError whose `current` is `current`. */
export async function expectConflict(promise: Promise<unknown>, current: RecordStatus | 'releasing' | null): Promise<void> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected a StoreConflictError').toBeInstanceOf(StoreConflictError);
  expect((err as StoreConflictError).current).toBe(current);
}

/** A release claim's lease end, `seconds` from now (negative: already expired). */
export function lease(seconds = 300): Date {
  return new Date(Date.now() + seconds * 1000);
}
