import { describe, expect, it } from 'vitest';
import { CAMPAIGN_STATUSES, mayReleaseAs, refusalFor, stepFor, UNDECIDED, type ReviewAction, type Reviewer } from '../../../src/review/lifecycle.js';
import { historyEntry, RECORD_STATUSES, type RecordStatus } from '../../../src/store/record.js';
import { makeRecord } from '../../helpers/store-records.js';

const alice: Reviewer = { name: 'alice', role: 'reviewer' };
const bob: Reviewer = { name: 'bob', role: 'approver' };

/** The whole table, written out: status × action → allowed, with and without four-eyes. */
const ALLOWED: Record<'plain' | 'fourEyes', Record<ReviewAction, readonly RecordStatus[]>> = {
  plain: { approve: ['held', 'failed'], discard: ['held', 'approved', 'captured', 'failed', 'delayed'], release: ['held', 'approved', 'failed'] },
  fourEyes: { approve: ['held', 'failed'], discard: ['held', 'approved', 'captured', 'failed', 'delayed'], release: ['approved'] },
};

describe('the record lifecycle', () => {
  for (const mode of ['plain', 'fourEyes'] as const) {
    for (const action of ['approve', 'discard', 'release'] as const) {
      for (const status of RECORD_STATUSES) {
        const allowed = ALLOWED[mode][action].includes(status);
        it(`${mode}: ${action} from ${status} is ${allowed ? 'allowed' : 'refused'}`, () => {
          // Approved by someone else, so four-eyes does not refuse the releaser for being the approver.
          const record = makeRecord({ status, history: [historyEntry('carol', 'approve', null)] });
          const refusal = refusalFor(record, action, alice, mode === 'fourEyes');
          expect(refusal === null).toBe(allowed);
          expect(stepFor(action, mode === 'fourEyes').from.includes(status)).toBe(allowed);
          if (refusal) expect(refusal).toMatchObject({ kind: 'wrong-status', status });
        });
      }
    }
  }

  it('four-eyes: the approver may not release what they approved; another person may', () => {
    const record = makeRecord({ status: 'approved', history: [historyEntry('alice', 'approve', 'looks fine')] });
    expect(refusalFor(record, 'release', alice, true)).toMatchObject({
      kind: 'not-permitted',
      message: expect.stringMatching(/approved this message yourself/),
    });
    expect(refusalFor(record, 'release', bob, true)).toBeNull();
    // Without four-eyes the same person may.
    expect(refusalFor(record, 'release', alice, false)).toBeNull();
  });

  it('four-eyes: a held message needs an approval first, and says so', () => {
    expect(refusalFor(makeRecord({ status: 'held' }), 'release', bob, true)).toMatchObject({
      kind: 'wrong-status',
      message: expect.stringMatching(/needs an approval by another person first/),
    });
  });

  it('names who approved when a second approval comes', () => {
    const record = makeRecord({ status: 'approved', history: [historyEntry('carol', 'approve', null)] });
    expect(refusalFor(record, 'approve', alice, false)).toMatchObject({ kind: 'wrong-status', message: 'already approved by carol' });
  });

  it('only an approver may release as original', () => {
    expect(mayReleaseAs(alice, 'original')).toMatchObject({ kind: 'not-permitted' });
    expect(mayReleaseAs(bob, 'original')).toBeNull();
    expect(mayReleaseAs(alice, 'bcc')).toBeNull();
    expect(mayReleaseAs(alice, 'split')).toBeNull();
  });

  it('keeps every status a person can still act on, and delayed mail still to leave, out of retention; and only those besides captured', () => {
    for (const status of RECORD_STATUSES) {
      const actionable = (['approve', 'release'] as const).some((a) => ALLOWED.plain[a].includes(status)) || status === 'delayed';
      expect(UNDECIDED.has(status), status).toBe(actionable);
    }
  });

  it('a delayed message leaves on its own: a person may discard it, and is told why approve and release are refused', () => {
    const record = makeRecord({ status: 'delayed', releaseAt: new Date().toISOString() });
    for (const action of ['approve', 'release'] as const) {
      expect(refusalFor(record, action, bob, false)).toMatchObject({
        kind: 'wrong-status',
        status: 'delayed',
        message: expect.stringMatching(/delay window and leaves on its own .* can be discarded/),
      });
    }
    expect(refusalFor(record, 'discard', alice, true)).toBeNull();
  });

  it('campaigns cover delayed mail, so a campaign can be stopped inside its window', () => {
    expect(CAMPAIGN_STATUSES).toEqual(['held', 'approved', 'captured', 'delayed']);
  });
});
