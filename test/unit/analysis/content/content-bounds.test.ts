// THREATS.md principle 8 for the content scan: each bound hit once, what was
// found before it still reported, and hostile shapes (100k parts, a boundary
// never closed or a prefix of another, no boundary, huge base64, random bytes)
// bounded and never thrown on.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ContentReport } from '../../../../src/analysis/content/content-report.js';
import { scanBytes, scanner } from './scan-helpers.js';

const msg = (...lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'utf8');
const head = (boundary: string) => ['From: sato@example.co.jp', 'To: client@partner.example', `Content-Type: multipart/mixed; boundary="${boundary}"`, ''];

function scanned(report: ContentReport) {
  if (!report.scanned) throw new Error(`expected a full scan, got the pre-scan's ${report.atMost}`);
  return report;
}

/** n text parts, part i naming p<i>@d<i>.example. */
function manyParts(n: number): Buffer {
  let parts = '';
  for (let i = 1; i <= n; i++) parts += `--b\r\n\r\np${i}@d${i}.example\r\n`;
  return Buffer.from(head('b').join('\r\n') + '\r\n' + parts + '--b--\r\n');
}

function nested(depth: number): Buffer {
  const lines = head('b0');
  for (let i = 1; i < depth; i++) lines.push('--b' + (i - 1), `Content-Type: multipart/mixed; boundary="b${i}"`, '');
  lines.push(`--b${depth - 1}`, '', 'deep@bottom.example');
  for (let i = depth - 1; i >= 0; i--) lines.push(`--b${i}--`);
  return msg(...lines, '');
}

describe('content scan bounds', () => {
  it('stops past maxParts, keeping what the parts before held', () => {
    const report = scanned(scanBytes(scanner({ limits: { maxParts: 20 } }), manyParts(30)));
    expect(report.bound).toEqual({ kind: 'parts', limit: 20 });
    // The root multipart is a part too: 19 of its children were read.
    expect(report.externalCount).toBe(19);
  });

  it('stops past maxDepth', () => {
    expect(scanned(scanBytes(scanner(), nested(10))).bound).toBeNull();
    expect(scanned(scanBytes(scanner(), nested(10))).externalCount).toBe(1);
    const report = scanned(scanBytes(scanner({ limits: { maxDepth: 10 } }), nested(12)));
    expect(report.bound).toEqual({ kind: 'depth', limit: 10 });
    expect(report.externalCount).toBe(0);
  });

  it('stops past maxDecodedBytes, over everything decoded', () => {
    const list = Array.from({ length: 2000 }, (_, i) => `m${i}@big.example`).join('\r\n');
    const message = msg(
      ...head('b'),
      '--b',
      '',
      'first@body.example',
      '--b',
      'Content-Type: text/csv',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from(list).toString('base64'),
      '--b--',
      '',
    );
    const report = scanned(scanBytes(scanner({ limits: { maxDecodedBytes: 10_000 } }), message));
    expect(report.bound).toEqual({ kind: 'decoded-bytes', limit: 10_000 });
    expect(report.externalCount).toBe(1);
    expect(scanned(scanBytes(scanner(), message)).externalCount).toBe(2001);
  });

  it('stops past maxScanMs on the clock it is given, checked between parts', () => {
    let t = 0;
    const clock = () => (t += 100);
    const report = scanned(scanBytes(scanner({ now: clock, limits: { maxScanMs: 1000 } }), manyParts(50)));
    expect(report.bound).toEqual({ kind: 'time', limit: 1000 });
    // Out of time, nothing more is read: what the walk found after it is not either.
    expect(report.externalCount).toBeLessThan(50);
  });

  it('stops past maxScanMs inside one long text', () => {
    const list = Array.from({ length: 100_000 }, (_, i) => `m${i}@long.example`).join('\n');
    let t = 0;
    const report = scanned(scanBytes(scanner({ now: () => (t += 300), limits: { maxScanMs: 1000 } }), msg('From: a@example.co.jp', '', list)));
    expect(report.bound).toEqual({ kind: 'time', limit: 1000 });
    expect(report.externalCount).toBeGreaterThan(0);
    expect(report.externalCount).toBeLessThan(100_000);
  });

  it('is bounded on 100,000 parts', () => {
    const report = scanned(scanBytes(scanner(), manyParts(100_000)));
    expect(report.bound).toEqual({ kind: 'parts', limit: 500 });
    expect(report.externalCount).toBe(499);
  });

  it('reads a boundary never closed to the end, as clients show it', () => {
    const report = scanned(scanBytes(scanner(), msg(...head('b'), '--b', '', 'one@a.example', '--b', '', 'two@b.example', 'three@c.example')));
    expect(report.bound).toBeNull();
    expect(report.locations.map((l) => [l.part, l.externalCount])).toEqual([
      ['1', 1],
      ['2', 2],
    ]);
  });

  it('does not take a longer boundary for a delimiter of its prefix', () => {
    const message = msg(
      ...head('ab'),
      '--ab',
      'Content-Type: multipart/mixed; boundary="abc"',
      '',
      '--abc',
      '',
      'inner1@x.example',
      '--abc',
      '',
      'inner2@y.example',
      '--abc--',
      '--ab',
      '',
      'outer@z.example',
      '--ab--',
      '',
    );
    const report = scanned(scanBytes(scanner(), message));
    expect(report.locations.map((l) => [l.part, l.externalCount])).toEqual([
      ['1.1', 1],
      ['1.2', 1],
      ['2', 1],
    ]);
  });

  it('reads a multipart without a boundary parameter, or with no delimiter in it, as text', () => {
    const noParam = msg('From: a@example.co.jp', 'Content-Type: multipart/mixed', '', '--x', '', 'hidden@list.example', '--x--', '');
    expect(scanned(scanBytes(scanner(), noParam)).externalCount).toBe(1);
    const noDelimiter = msg('From: a@example.co.jp', 'Content-Type: multipart/mixed; boundary=zzz', '', 'hidden@list.example', '');
    expect(scanned(scanBytes(scanner(), noDelimiter)).externalCount).toBe(1);
  });

  it('never throws on random bytes, headers and bodies alike', () => {
    const scan = scanner({ limits: { maxParts: 50 } });
    const piece = fc.oneof(
      fc.constantFrom(
        '\r\n',
        '--b',
        '--b--',
        '\r\n\r\n',
        'Content-Type: multipart/mixed; boundary=b\r\n',
        'Content-Type: message/rfc822\r\n',
        'Content-Transfer-Encoding: base64\r\n',
        'Content-Transfer-Encoding: quoted-printable\r\n',
        'charset=iso-2022-jp',
        '\x1b$B!w',
        '=40',
        '&#64;',
        'a@b.example',
        'Content-Type: text/html; charset=x-unknown\r\n',
      ),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), fc.integer({ min: 0, max: 9 }), (pieces, chunk) => {
        const body = Buffer.from(pieces.join(''), 'latin1');
        const message = Buffer.concat([Buffer.from('From: a@example.co.jp\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n'), body]);
        const report = scanBytes(scan, message, undefined, chunk);
        expect(typeof report.scanned).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });

  it('maps a spreadsheet the reader cannot read to unreadable', () => {
    const message = msg(
      ...head('b'),
      '--b',
      'Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; name="members.xlsx"',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('not a zip at all').toString('base64'),
      '--b--',
      '',
    );
    const report = scanned(scanBytes(scanner(), message));
    expect(report.uninspected).toEqual([
      { part: '1', contentType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', filename: 'members.xlsx', why: 'unreadable' },
    ]);
  });
});
