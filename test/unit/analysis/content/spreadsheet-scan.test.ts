// The spreadsheet carriers through the whole content scan: the MIME walk finds
// the attachment, the reader gives its strings, the scan counts them, and the
// reader's bounds come back as the scan's bounds (the message is then held).
import { describe, expect, it } from 'vitest';
import { fixture, scanBytes, scanner } from './scan-helpers.js';

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

describe('content scan: spreadsheet attachments', () => {
  it('counts the 30 external members of members.xlsx, and not its 10 internal ones', () => {
    const report = scanBytes(scanner(), fixture('members-xlsx.eml'));
    expect(report).toMatchObject({ scanned: true, externalCount: 30, uninspected: [], bound: null });
    if (!report.scanned) return;
    expect(report.locations).toHaveLength(1);
    expect(report.locations[0]).toMatchObject({ part: '2', contentType: XLSX_TYPE, filename: 'members.xlsx', carrier: 'spreadsheet', externalCount: 30 });
    expect(report.locations[0]!.addresses.every((a) => !a.endsWith('example.co.jp'))).toBe(true);
  });

  it('counts the same members in members.ods, also with the body in 7-byte chunks', () => {
    for (const chunk of [0, 7]) {
      const report = scanBytes(scanner(), fixture('members-ods.eml'), undefined, chunk);
      expect(report).toMatchObject({ scanned: true, externalCount: 30, bound: null });
      if (report.scanned) expect(report.locations[0]).toMatchObject({ carrier: 'spreadsheet', filename: 'members.ods', externalCount: 30 });
    }
  });

  it('flags an encrypted XLSX and counts nothing in it', () => {
    const report = scanBytes(scanner(), fixture('encrypted-xlsx.eml'));
    expect(report).toMatchObject({ scanned: true, externalCount: 0, locations: [], bound: null });
    if (report.scanned) expect(report.uninspected).toEqual([expect.objectContaining({ why: 'encrypted', part: '2' })]);
  });

  it('stops at maxCells: the bound is the scan bound, and what was read still counts', () => {
    const report = scanBytes(scanner({ limits: { maxCells: 50 } }), fixture('members-xlsx.eml'));
    expect(report).toMatchObject({ scanned: true, bound: { kind: 'cells', limit: 50 } });
  });

  it('stops a zip bomb that lies about its size at maxDecodedBytes', () => {
    const report = scanBytes(scanner({ limits: { maxDecodedBytes: 4 * 1024 * 1024 } }), fixture('zip-bomb-xlsx.eml'));
    expect(report).toMatchObject({ scanned: true, bound: { kind: 'decoded-bytes', limit: 4 * 1024 * 1024 } });
  });
});
