// The overview and the rehearsal report over a real file store in a temp dir,
// with a fixed clock so "today" and "the last 7 days" are exact UTC days.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFileStore } from '../../../src/store/file-store.js';
import type { MessageStore } from '../../../src/store/message-store.js';
import type { MessageRecord } from '../../../src/store/record.js';
import { buildOverview } from '../../../src/review/overview.js';
import { buildReport } from '../../../src/review/report.js';
import { body, DAY_MS, entry, makeRecord } from '../../helpers/store-records.js';

// 01:30 UTC: in Tokyo (UTC+9) it is already 10:30, so a local-time day would differ.
const NOW = new Date('2026-11-29T01:30:00Z');
const at = (iso: string) => Date.parse(iso);
const verdict = (action: string, reason = `${action} reason`, rule = 'default') => ({ action, rule, violation: action !== 'pass', reason });

let dir: string;
let store: MessageStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mail-guard-overview-'));
  store = await openFileStore(dir);
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function put(overrides: Parameters<typeof makeRecord>[0]): Promise<MessageRecord> {
  const record = makeRecord(overrides);
  await store.put(record, body());
  return record;
}

describe('buildOverview', () => {
  it('counts by status, by verdict today and over the last 7 UTC days, finds the oldest held, and lists the latest held campaigns', async () => {
    // Today (UTC): two split captures, one pass, one held; one refused copy that is not a message.
    await put({ at: at('2026-11-29T01:00:00Z'), status: 'captured', verdict: verdict('split') });
    await put({ at: at('2026-11-29T00:10:00Z'), status: 'captured', verdict: verdict('split') });
    await put({ at: at('2026-11-29T00:00:00Z'), status: 'captured', verdict: verdict('pass') });
    await put({ at: at('2026-11-29T00:20:00Z'), status: 'held', subject: 'Today', verdict: verdict('quarantine') });
    await put({ at: at('2026-11-29T00:30:00Z'), status: 'failed', verdict: verdict('split') });
    // Earlier this week: yesterday 23:59 UTC is not today, 6 days back at 00:00 is still in the week.
    await put({ at: at('2026-11-28T23:59:59Z'), status: 'captured', verdict: verdict('reject') });
    await put({ at: at('2026-11-23T00:00:00Z'), status: 'discarded', verdict: verdict('quarantine') });
    // Outside the week, but the oldest held message.
    const oldest = await put({ at: at('2026-11-22T23:59:59Z'), status: 'held', subject: 'Oldest', envelope: { mailFrom: 'old@example.co.jp', rcptTo: [] } });
    await put({ at: at('2026-11-20T00:00:00Z'), status: 'captured', verdict: verdict('pass') });
    // Seven more held campaigns this week: the overview shows the five newest.
    for (let i = 0; i < 7; i++) {
      await put({ at: at('2026-11-23T12:00:00Z') + i * 60_000, status: 'held', subject: `Campaign ${i}`, verdict: verdict('quarantine') });
    }
    const approved = await put({ at: at('2026-11-28T12:00:00Z'), status: 'held', subject: 'Approved later' });
    await store.transition(approved.id, { from: ['held'], to: 'approved', entry: entry('approve') });

    const overview = await buildOverview(store, { rehearsal: true, now: NOW });
    expect(overview.generatedAt).toBe(NOW.toISOString());
    expect(overview.statuses).toEqual({ held: 9, approved: 1, released: 0, discarded: 1, captured: 5, failed: 1, delayed: 0 });
    expect(overview.verdicts.today).toEqual({
      since: '2026-11-29T00:00:00.000Z',
      messages: 4,
      verdicts: { pass: 1, monitor: 0, bcc: 0, split: 2, quarantine: 1, reject: 0 },
    });
    expect(overview.verdicts.last7Days).toEqual({
      since: '2026-11-23T00:00:00.000Z',
      messages: 14,
      verdicts: { pass: 1, monitor: 0, bcc: 0, split: 2, quarantine: 10, reject: 1 },
    });
    expect(overview.verdicts).toMatchObject({ complete: true, truncated: false });
    expect(overview.oldestHeld).toEqual({
      id: oldest.id,
      receivedAt: '2026-11-22T23:59:59.000Z',
      ageSeconds: 6 * 86_400 + 5_401,
      sender: 'old@example.co.jp',
      subject: 'Oldest',
    });
    expect(overview.latestHeldCampaigns.map((c) => c.subject)).toEqual(['Today', 'Campaign 6', 'Campaign 5', 'Campaign 4', 'Campaign 3']);
    expect(overview.latestHeldCampaigns[0]).toMatchObject({ count: 1, statuses: { held: 1 }, verdicts: { quarantine: 1 } });
  });

  it('says the counts are not complete in live mode, or when the week holds more records than it reads', async () => {
    for (let i = 0; i < 5; i++) await put({ at: NOW.getTime() - (i + 1) * 60_000, status: 'captured', verdict: verdict('pass') });
    expect((await buildOverview(store, { rehearsal: false, now: NOW })).verdicts).toMatchObject({ complete: false, truncated: false });
    const cut = await buildOverview(store, { rehearsal: true, now: NOW, maxRecords: 3 });
    expect(cut.verdicts).toMatchObject({ complete: false, truncated: true, today: { messages: 3 } });
    // Exactly at the bound with nothing more in the window is not truncated.
    expect((await buildOverview(store, { rehearsal: true, now: NOW, maxRecords: 5 })).verdicts).toMatchObject({ complete: true, truncated: false });
  });

  it('has no oldest held message and no campaigns in an empty store', async () => {
    const overview = await buildOverview(store, { rehearsal: true, now: NOW });
    expect(overview).toMatchObject({ oldestHeld: null, latestHeldCampaigns: [], verdicts: { today: { messages: 0 }, last7Days: { messages: 0 } } });
  });
});

describe('buildReport', () => {
  it('counts per campaign what each message got and why, reasons deduplicated, refused copies apart', async () => {
    const news = { envelope: { mailFrom: 'news@example.co.jp', rcptTo: [] }, subject: 'November news' };
    const base = at('2026-11-28T08:00:00Z');
    const kinds: Array<[string, string]> = [
      ['split', '3 external addresses visible in To'],
      ['split', '3 external addresses visible in To'],
      ['split', '4 external addresses visible in To'],
      ['pass', '0 exposed external address(es), within limits'],
      ['reject', 'NUL byte in the message'],
    ];
    for (const [i, [action, reason]] of kinds.entries()) await put({ ...news, at: base + i * 1000, status: 'captured', verdict: verdict(action, reason) });
    // The sender's case does not make another campaign; a refused copy is not a message.
    await put({ ...news, envelope: { mailFrom: 'NEWS@example.co.jp', rcptTo: [] }, at: base + 10_000, status: 'captured', verdict: verdict('bcc', 'x') });
    await put({ ...news, at: base + 11_000, status: 'failed', verdict: verdict('split', 'y') });
    const board = await put({
      at: base - 1000,
      subject: 'Board',
      envelope: { mailFrom: 'board@example.co.jp', rcptTo: [] },
      verdict: null,
      status: 'captured',
    });

    const report = await buildReport(store, { rehearsal: true, now: NOW });
    expect(report).toMatchObject({ generatedAt: NOW.toISOString(), since: null, mode: 'rehearsal', complete: true, truncated: false, scanned: 8 });
    expect(report.totals).toEqual({ messages: 7, failedCopies: 1, verdicts: { pass: 1, monitor: 0, bcc: 1, split: 3, quarantine: 0, reject: 1, none: 1 } });
    expect(report.campaigns.map((c) => c.subject)).toEqual(['November news', 'Board']);
    const [nov, boardReport] = report.campaigns;
    expect(nov).toEqual({
      key: expect.stringMatching(/^[0-9a-f]{24}$/),
      // As the newest record wrote it.
      sender: 'news@example.co.jp',
      subject: 'November news',
      messages: 6,
      verdicts: { pass: 1, monitor: 0, bcc: 1, split: 3, quarantine: 0, reject: 1 },
      reasons: [
        { action: 'split', reason: '3 external addresses visible in To', count: 2 },
        { action: 'pass', reason: '0 exposed external address(es), within limits', count: 1 },
        { action: 'split', reason: '4 external addresses visible in To', count: 1 },
        { action: 'reject', reason: 'NUL byte in the message', count: 1 },
        { action: 'bcc', reason: 'x', count: 1 },
      ],
      reasonsOmitted: 0,
      failedCopies: 1,
      firstReceivedAt: '2026-11-28T08:00:00.000Z',
      lastReceivedAt: '2026-11-28T08:00:11.000Z',
    });
    expect(boardReport).toMatchObject({ messages: 1, verdicts: { none: 1 }, reasons: [{ action: 'none', reason: 'no verdict recorded', count: 1 }] });
    expect(boardReport!.firstReceivedAt).toBe(board.receivedAt);

    const since = await buildReport(store, { rehearsal: true, now: NOW, since: new Date(base + 4000) });
    expect(since).toMatchObject({ since: '2026-11-28T08:00:04.000Z', scanned: 3, totals: { messages: 2, failedCopies: 1 } });
    expect(since.campaigns).toHaveLength(1);
    expect(await buildReport(store, { rehearsal: false, now: NOW })).toMatchObject({ mode: 'live', complete: false, truncated: false });
    expect(await buildReport(store, { rehearsal: true, now: NOW, maxRecords: 4 })).toMatchObject({ complete: false, truncated: true, scanned: 4 });
  });

  it('lists at most 20 distinct reasons per campaign and counts the rest', async () => {
    const base = NOW.getTime() - DAY_MS;
    for (let i = 0; i < 23; i++) await put({ at: base + i * 1000, status: 'captured', verdict: verdict('split', `${i + 2} external addresses visible`) });
    const [campaign] = (await buildReport(store, { rehearsal: true, now: NOW })).campaigns;
    expect(campaign!.reasons).toHaveLength(20);
    expect(campaign!.reasonsOmitted).toBe(3);
    expect(campaign!.messages).toBe(23);
  });
});
