// review/breaker.ts over a real file store: what the people on duty hear
// (GuardEvents) and what the log and the audit log get when a breaker opens
// and is reset. The events go to an in-process sink that keeps them, as the
// webhook dispatcher receives them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GuardEvent, GuardEvents } from '../../src/actions/guard-events.js';
import { maskAddress } from '../../src/observability/mask.js';
import { createBreakerGate, resetBreaker } from '../../src/review/breaker.js';
import { ReviewRefusedError } from '../../src/review/lifecycle.js';
import { breakerId } from '../../src/store/breaker-common.js';
import { openFileStore } from '../../src/store/file-store.js';
import type { MessageStore } from '../../src/store/message-store.js';

const LIMITS = { violations: 2, windowSeconds: 60, action: 'tempfail' } as const;
const SENDER = 'Campaign@Example.co.jp';
const at = (s: number) => new Date(Date.parse('2026-12-01T10:00:00Z') + s * 1000);

let dir: string;
let store: MessageStore;
const events: GuardEvent[] = [];
const sink: GuardEvents = { emit: (e) => void events.push(e) };
const warnings: Array<{ obj: Record<string, unknown>; msg: string }> = [];
const logger = { warn: (obj: object, msg: string) => void warnings.push({ obj: obj as Record<string, unknown>, msg }) };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mail-guard-breaker-'));
  store = await openFileStore(dir);
  events.length = 0;
  warnings.length = 0;
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('review/breaker.ts', () => {
  it('the gate tells the opening once: one warn line with the sender masked, one "breaker opened" event', async () => {
    const gate = createBreakerGate({ store, limits: LIMITS, events: sink, logger, mask: maskAddress });
    expect(gate.action).toBe('tempfail');
    expect(await gate.recordViolation(SENDER, at(0))).toBeNull();
    expect(events).toEqual([]);
    const opened = await gate.recordViolation(SENDER, at(1));
    expect(opened).toMatchObject({ id: breakerId(SENDER), violations: 2, windowSeconds: 60 });
    expect(await gate.openFor('campaign@example.CO.JP')).toEqual(opened);
    // A later violation (another instance counting while it opened) tells nobody again.
    expect(await gate.recordViolation(SENDER, at(2))).toBeNull();

    expect(warnings).toEqual([
      {
        obj: { event: 'breaker_opened', breaker: breakerId(SENDER), sender: 'c***@e***.jp', violations: 2, windowSeconds: 60, action: 'tempfail' },
        msg: expect.stringMatching(/breaker opened/),
      },
    ]);
    expect(events).toEqual([
      {
        kind: 'breaker',
        at: at(1).toISOString(),
        state: 'opened',
        breakerId: breakerId(SENDER),
        sender: 'campaign@example.co.jp',
        violations: 2,
        windowSeconds: 60,
        actor: 'mail-guard',
      },
    ]);
  });

  it('a reset is audited and told ("breaker reset" by whom); an unknown id is refused as not found and leaves no entry', async () => {
    const gate = createBreakerGate({ store, limits: LIMITS, events: sink, logger, mask: maskAddress });
    await gate.recordViolation(SENDER, at(0));
    await gate.recordViolation(SENDER, at(1));
    events.length = 0;
    const dave = { name: 'dave', role: 'reviewer' } as const;

    const refused = await resetBreaker({ store, events: sink }, dave, breakerId('nobody@example.co.jp'), null).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ReviewRefusedError);
    expect((refused as ReviewRefusedError).refusal.kind).toBe('not-found');
    expect(await store.audit.read({ limit: 10 })).toEqual([]);

    const reset = await resetBreaker({ store, events: sink }, dave, breakerId(SENDER), 'campaign stopped');
    expect(reset.sender).toBe('campaign@example.co.jp');
    expect(await gate.openFor(SENDER)).toBeNull();
    expect(await store.audit.read({ limit: 10 })).toEqual([
      expect.objectContaining({ actor: 'dave', action: 'breaker-reset', target: breakerId(SENDER), note: 'campaign stopped' }),
    ]);
    expect(events).toEqual([expect.objectContaining({ kind: 'breaker', state: 'reset', breakerId: breakerId(SENDER), actor: 'dave', violations: 2 })]);
  });
});
