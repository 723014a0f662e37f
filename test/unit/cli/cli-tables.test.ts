// What the CLI prints from records: tables a terminal shows as they are meant.
import { describe, expect, it } from 'vitest';
import { cell, table } from '../../../src/cli/admin-client.js';
import { reportText, sinceParameter } from '../../../src/cli/report-command.js';

describe('cell', () => {
  it('shows control characters from a record as U+FFFD: no escape sequence or fake row reaches the terminal', () => {
    expect(cell('Sale\u001b[2J\u001b[31m now\r\nID  fake row\u0085\u2028')).toBe('Sale\uFFFD[2J\uFFFD[31m now\uFFFD\uFFFDID  fake row\uFFFD\uFFFD');
    expect(cell('春のキャンペーン — ok')).toBe('春のキャンペーン — ok');
    expect(cell(null)).toBe('');
  });
});

describe('table', () => {
  it('pads every column but the last to its widest cell, right-aligns the numeric ones', () => {
    expect(
      table(
        ['N', 'NAME', 'NOTE'],
        [
          ['7', 'a', 'x'],
          ['123', 'bbb', ''],
        ],
        new Set([0]),
      ),
    ).toBe('  N  NAME  NOTE\n  7  a     x\n123  bbb\n');
  });
});

describe('report text', () => {
  const report = {
    since: null,
    mode: 'live' as const,
    complete: false,
    truncated: true,
    scanned: 50_000,
    totals: { messages: 3, verdicts: { pass: 0, monitor: 0, bcc: 0, split: 0, quarantine: 2, reject: 0, none: 1 }, failedCopies: 1 },
    campaigns: [
      {
        sender: '',
        subject: 'Alert\u001b]0;owned\u0007',
        messages: 3,
        verdicts: { pass: 0, monitor: 0, bcc: 0, split: 0, quarantine: 2, reject: 0, none: 1 },
        reasons: [
          { action: 'quarantine', reason: '3 exposed', count: 2 },
          { action: 'none', reason: 'no verdict recorded', count: 1 },
        ],
        reasonsOmitted: 4,
        failedCopies: 1,
      },
    ],
  };

  it('says what live mode cannot know and that the scan stopped, adds OTHER for records without a verdict, and escapes record text', () => {
    const text = reportText(report);
    // eslint-disable-next-line no-control-regex -- looking for exactly those
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^Live mode: only the messages mail-guard kept .*not stored\.$/);
    expect(lines[1]).toBe('Only the newest 50000 records were read; older ones are not counted.');
    expect(lines).toContain('MESSAGES  PASS  MONITOR  SPLIT  BCC  HELD  REJECT  OTHER  SENDER           SUBJECT');
    expect(lines).toContain('       3     0        0      0    0     2       0      1  <>               Alert\uFFFD]0;owned\uFFFD');
    expect(lines).toContain('  … and 4 more distinct reasons (--json lists the top ones with counts)');
    expect(lines).toContain('  1 copy refused by the upstream after the 250 (status failed)');
  });

  it('--since takes a span back from now, or passes a time on for the API to check', () => {
    const now = Date.parse('2026-11-29T12:00:00Z');
    expect(sinceParameter('24h', now)).toBe('2026-11-28T12:00:00.000Z');
    expect(sinceParameter('7d', now)).toBe('2026-11-22T12:00:00.000Z');
    expect(sinceParameter('30m', now)).toBe('2026-11-29T11:30:00.000Z');
    expect(sinceParameter('2026-11-29', now)).toBe('2026-11-29');
  });
});
