// One fixture per carrier (test/fixtures/content, written by make-fixtures.mjs):
// the exact count, where it was found, and what was not inspected; each read
// whole and again with the body in 7-byte chunks (every boundary and at-sign
// across a seam somewhere).
import { describe, expect, it } from 'vitest';
import type { ContentReport, UninspectedPart } from '../../../../src/analysis/content/content-report.js';
import { fixture, scanBytes, scanner } from './scan-helpers.js';

interface Where {
  readonly part: string;
  readonly contentType: string;
  readonly filename?: string | null;
  readonly carrier: string;
  readonly externalCount: number;
}
interface Row {
  readonly fixture: string;
  readonly externalCount: number;
  readonly locations: readonly Where[];
  readonly uninspected?: readonly UninspectedPart[];
  /** Some of the addresses that must be among those listed. */
  readonly listed?: readonly string[];
}

const rows: readonly Row[] = [
  {
    fixture: 'forwarded-newsletter.eml',
    externalCount: 50,
    locations: [{ part: '2', contentType: 'message/rfc822', carrier: 'forwarded-headers', externalCount: 50 }],
    listed: ['member1@club1.example', 'member20@club20.example'],
  },
  {
    fixture: 'nested-forward.eml',
    externalCount: 33,
    locations: [
      { part: '2', contentType: 'message/rfc822', carrier: 'forwarded-headers', externalCount: 3 },
      { part: '2.2', contentType: 'message/rfc822', filename: 'board.eml', carrier: 'forwarded-headers', externalCount: 30 },
    ],
    listed: ['a@alpha.example', 'c@gamma.example', 'person1@org1.example'],
  },
  {
    fixture: 'rfc822-headers.eml',
    externalCount: 12,
    locations: [{ part: '3', contentType: 'text/rfc822-headers', carrier: 'forwarded-headers', externalCount: 12 }],
  },
  {
    fixture: 'members-csv-base64.eml',
    externalCount: 832,
    locations: [{ part: '2', contentType: 'text/csv', filename: 'members.csv', carrier: 'text-attachment', externalCount: 832 }],
    listed: ['m1@corp1.example'],
  },
  {
    fixture: 'tsv-rfc2231-filename.eml',
    externalCount: 10,
    locations: [{ part: '2', contentType: 'text/tab-separated-values', filename: '会員リスト.tsv', carrier: 'text-attachment', externalCount: 10 }],
  },
  {
    fixture: 'vcard.eml',
    externalCount: 2,
    locations: [{ part: '2', contentType: 'text/vcard', filename: 'contacts.vcf', carrier: 'text-attachment', externalCount: 2 }],
    listed: ['ito@vcard-one.example', 'kato.with.a.very.long.local.part@vcard-two.example'],
  },
  {
    fixture: 'json.eml',
    externalCount: 4,
    locations: [{ part: '2', contentType: 'application/json', filename: 'members.json', carrier: 'text-attachment', externalCount: 4 }],
    listed: ['j4@json.example'],
  },
  {
    fixture: 'xml.eml',
    externalCount: 5,
    locations: [{ part: '2', contentType: 'application/xml', filename: 'members.xml', carrier: 'text-attachment', externalCount: 5 }],
    listed: ['x4@xml.example', 'x5@xml.example'],
  },
  {
    fixture: 'icalendar.eml',
    externalCount: 6,
    locations: [{ part: '2', contentType: 'text/calendar', carrier: 'text-attachment', externalCount: 6 }],
    listed: ['guest1@cal1.example', 'guest6@cal6.example'],
  },
  {
    fixture: 'html-table-qp.eml',
    externalCount: 25,
    locations: [{ part: '2', contentType: 'text/html', carrier: 'body-html', externalCount: 25 }],
    listed: ['h1@html1.example', 'h2@html2.example', 'h3@html3.example', 'h5@html5.example'],
  },
  { fixture: 'plain-body-list.eml', externalCount: 40, locations: [{ part: '1', contentType: 'text/plain', carrier: 'body-text', externalCount: 40 }] },
  {
    fixture: 'iso-2022-jp-attachment.eml',
    externalCount: 6,
    locations: [{ part: '2', contentType: 'text/plain', filename: 'list.txt', carrier: 'text-attachment', externalCount: 6 }],
    listed: ['jis1@jis.example', 'jis6@jis.example'],
  },
  {
    fixture: 'shift-jis-csv-no-charset.eml',
    externalCount: 8,
    locations: [{ part: '2', contentType: 'text/csv', filename: 'meibo.csv', carrier: 'text-attachment', externalCount: 8 }],
    listed: ['sj1@sjis.example', 'sj8@sjis.example'],
  },
  {
    fixture: 'fullwidth-at-body.eml',
    externalCount: 4,
    locations: [{ part: '1', contentType: 'text/plain', carrier: 'body-text', externalCount: 4 }],
    listed: ['fw1@full.example', 'fw2@full.example', 'fw3@full.example', 'fw4@full.example'],
  },
  {
    fixture: 'zip-archive.eml',
    externalCount: 0,
    locations: [],
    uninspected: [{ part: '2', contentType: 'application/zip', filename: 'members.zip', why: 'archive' }],
  },
  {
    fixture: 'smime-encrypted.eml',
    externalCount: 0,
    locations: [],
    uninspected: [{ part: '1', contentType: 'application/pkcs7-mime', filename: 'smime.p7m', why: 'encrypted' }],
  },
  { fixture: 'inline-pgp.eml', externalCount: 0, locations: [], uninspected: [{ part: '1', contentType: 'text/plain', filename: null, why: 'encrypted' }] },
  {
    fixture: 'octet-stream-csv.eml',
    externalCount: 5,
    locations: [{ part: '2', contentType: 'application/octet-stream', filename: '名簿.csv', carrier: 'text-attachment', externalCount: 5 }],
  },
];

const scan = scanner();

function scanned(report: ContentReport) {
  if (!report.scanned) throw new Error(`expected a full scan, got the pre-scan's ${report.atMost}`);
  return report;
}

describe('content fixtures', () => {
  for (const row of rows) {
    for (const chunkSize of [0, 7]) {
      it(`${row.fixture}${chunkSize ? ' in 7-byte chunks' : ''}`, () => {
        const report = scanned(scanBytes(scan, fixture(row.fixture), undefined, chunkSize));
        expect(report.externalCount).toBe(row.externalCount);
        expect(report.locations.map(({ addresses: _a, ...where }) => where)).toEqual(row.locations.map((l) => ({ filename: null, ...l })));
        expect(report.uninspected).toEqual(row.uninspected ?? []);
        expect(report.bound).toBeNull();
        const listed = report.locations.flatMap((l) => l.addresses);
        for (const a of row.listed ?? []) expect(listed).toContain(a);
        for (const l of report.locations) expect(l.addresses.length).toBe(Math.min(20, l.externalCount));
      });
    }
  }

  it('skips a base64 PDF-like attachment whose bytes hold address text: binary costs nothing but the boundary search', () => {
    expect(scanBytes(scan, fixture('pdf-like-attachment.eml'))).toEqual({ scanned: false, atMost: 0 });
    expect(scanBytes(scan, fixture('pdf-like-attachment.eml'), undefined, 7)).toEqual({ scanned: false, atMost: 0 });
  });

  it('does not count the sole envelope recipient, and counts it when there are several', () => {
    const message = fixture('plain-body-list.eml');
    const one = scanned(scanBytes(scan, message, { mailFrom: '', rcptTo: ['<P1@plain1.example>'] }));
    expect(one.externalCount).toBe(39);
    const two = scanned(scanBytes(scan, message, { mailFrom: '', rcptTo: ['p1@plain1.example', 'x@y.example'] }));
    expect(two.externalCount).toBe(40);
  });

  it('counts an address found in two parts once over the message', () => {
    const report = scanned(scanBytes(scan, fixture('nested-forward.eml')));
    expect(report.locations.reduce((n, l) => n + l.externalCount, 0)).toBe(report.externalCount);
    const twice = Buffer.from(
      [
        'From: sato@example.co.jp',
        'Content-Type: multipart/mixed; boundary=b',
        '',
        '--b',
        '',
        'Dup@Twice.example and once@only.example',
        '--b',
        'Content-Type: text/csv; name=a.csv',
        '',
        'dup@twice.example',
        '--b--',
        '',
      ].join('\r\n'),
    );
    const report2 = scanned(scanBytes(scan, twice));
    expect(report2.externalCount).toBe(2);
    expect(report2.locations.map((l) => [l.part, l.externalCount])).toEqual([
      ['1', 2],
      ['2', 1],
    ]);
  });

  it('returns the pre-scan bound without decoding when no rule could be violated', () => {
    const lenient = scanner({ skipAtOrBelow: 50 });
    expect(scanBytes(lenient, fixture('plain-body-list.eml'))).toEqual({ scanned: false, atMost: 41 });
    expect(scanned(scanBytes(scanner({ skipAtOrBelow: 40 }), fixture('plain-body-list.eml'))).externalCount).toBe(40);
    // The HTML's bound counts every at-sign form: '@', =40, &#, &commat.
    const html = scanBytes(scanner({ skipAtOrBelow: 1000 }), fixture('html-table-qp.eml'));
    expect(html.scanned).toBe(false);
    if (!html.scanned) expect(html.atMost).toBeGreaterThanOrEqual(25);
  });
});
