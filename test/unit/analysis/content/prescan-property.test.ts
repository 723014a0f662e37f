// The pre-scan is an upper bound: it may never skip a message the full scan
// would count above the threshold, whatever the charset, transfer encoding,
// at-sign form or format of the carriers.
import Encoding from 'encoding-japanese';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { atSignsIn, charsetFamily } from '../../../../src/analysis/content/prescan.js';
import { readAs, textOf } from '../../../../src/analysis/content/part-text.js';
import { scanBytes, scanner } from './scan-helpers.js';

const AT_FORMS = ['@', '＠', '﹫', '&#64;', '&#x40;', '&commat;', '\\u0040', '\u200b@'];
const FILLER = [' ', '\r\n', ', ', '<', '>', '会員', 'ｱ', '=', '!w', '&amp;', '"', '\r\n ', 'mailto:', '\u00e9'];

const address = fc
  .tuple(
    fc.constantFrom('a', 'bo', 'x.y', 'メール'),
    fc.constantFrom(...AT_FORMS),
    fc.constantFrom('ext.example', 'b.co.jp', 'example.co.jp', 'ｅｘｔ．ｅｘａｍｐｌｅ'),
    fc.nat(30),
  )
  .map(([l, at, d, n]) => `${l}${n}${at}${d}`);
const text = fc.array(fc.oneof(address, fc.constantFrom(...FILLER)), { maxLength: 30 }).map((t) => t.join(''));

const CHARSETS = [
  null,
  'utf-8',
  'us-ascii',
  'shift_jis',
  'cp932',
  'euc-jp',
  'iso-2022-jp',
  'iso-8859-1',
  'windows-1252',
  'unknown-8bit',
  'utf-16le',
  'x-bogus',
];
const TYPES = ['text/plain', 'text/html', 'application/json', 'text/calendar', 'text/csv', 'application/xml'];

function encode(s: string, charset: string | null): Buffer {
  const name = charset ?? 'utf-8';
  if (name === 'iso-2022-jp') return Buffer.from(Encoding.convert(Encoding.stringToCode(s), { to: 'JIS', from: 'UNICODE' }));
  if (name === 'unknown-8bit' || name === 'x-bogus' || name === 'us-ascii') return iconv.encode(s, 'shift_jis');
  return iconv.encode(s, name);
}

function qp(bytes: Buffer, breakEvery: number): string {
  let out = '';
  let line = 0;
  for (const b of bytes) {
    const t = (b >= 33 && b <= 126 && b !== 61) || b === 32 ? String.fromCharCode(b) : '=' + b.toString(16).toUpperCase().padStart(2, '0');
    if (line + t.length > breakEvery) {
      out += '=\r\n';
      line = 0;
    }
    out += t;
    line += t.length;
  }
  return out;
}

const part = fc.record({
  text,
  charset: fc.constantFrom(...CHARSETS),
  type: fc.constantFrom(...TYPES),
  encoding: fc.constantFrom('7bit', '8bit', 'base64', 'quoted-printable'),
  attached: fc.boolean(),
  breakEvery: fc.integer({ min: 4, max: 76 }),
});

function message(parts: readonly (typeof part extends fc.Arbitrary<infer P> ? P : never)[]): Buffer {
  const chunks: Buffer[] = [Buffer.from('From: a@example.co.jp\r\nTo: c@partner.example\r\nContent-Type: multipart/mixed; boundary="=_b"\r\n\r\n')];
  for (const p of parts) {
    const bytes = encode(p.text, p.charset);
    const body =
      p.encoding === 'base64'
        ? Buffer.from(bytes.toString('base64'))
        : p.encoding === 'quoted-printable'
          ? Buffer.from(qp(bytes, p.breakEvery), 'latin1')
          : bytes;
    const type = `Content-Type: ${p.type}${p.charset === null ? '' : `; charset=${p.charset}`}\r\n`;
    const disp = p.attached ? 'Content-Disposition: attachment; filename="f.txt"\r\n' : '';
    chunks.push(Buffer.from(`--=_b\r\n${type}${disp}Content-Transfer-Encoding: ${p.encoding}\r\n\r\n`, 'latin1'), body, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from('--=_b--\r\n'));
  return Buffer.concat(chunks);
}

describe('the pre-scan bound', () => {
  it('never skips a message the full scan counts above the threshold', () => {
    const full = scanner({ skipAtOrBelow: -1 });
    fc.assert(
      fc.property(
        fc.array(part, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 13 }),
        (parts, threshold, chunk) => {
          const bytes = message(parts);
          const pre = scanBytes(scanner({ skipAtOrBelow: threshold }), bytes, undefined, chunk);
          const counted = scanBytes(full, bytes);
          if (!counted.scanned) throw new Error('the full scan always scans');
          if (!pre.scanned) {
            expect(pre.atMost).toBeLessThanOrEqual(threshold);
            expect(counted.externalCount).toBeLessThanOrEqual(pre.atMost);
          } else {
            expect(pre.externalCount).toBe(counted.externalCount);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('bounds the at-signs every charset table reads, for any bytes', () => {
    const interesting = fc.constantFrom(
      0x40,
      0x81,
      0x97,
      0xa1,
      0xf7,
      0xef,
      0xbc,
      0xa0,
      0xb9,
      0xab,
      0x1b,
      0x24,
      0x42,
      0x28,
      0x21,
      0x77,
      0x26,
      0x23,
      0x5c,
      0x75,
      0x30,
      0x34,
      0x0a,
      0x20,
      0x61,
      0x2e,
    );
    const byte = fc.oneof(interesting, fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(
        fc.array(byte, { maxLength: 60 }),
        fc.constantFrom(...CHARSETS),
        fc.constantFrom('plain', 'markup', 'json', 'folded' as const),
        (b, charset, reading) => {
          const bytes = Buffer.from(b);
          const read = readAs(textOf(bytes, charset), reading)
            .replace(/\p{Cf}/gu, '')
            .normalize('NFKC');
          const atSigns = read.split('@').length - 1;
          expect(atSignsIn(bytes, charset, reading)).toBeGreaterThanOrEqual(atSigns);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('sorts charsets into the families whose at-signs it knows', () => {
    expect(['utf-8', 'UTF8', 'us-ascii'].map(charsetFamily)).toEqual(['utf-8', 'utf-8', 'utf-8']);
    expect(['Shift_JIS', 'cp932', 'Windows-31J'].map(charsetFamily)).toEqual(['shift_jis', 'shift_jis', 'shift_jis']);
    expect(['EUC-JP', 'ISO-2022-JP', 'iso-8859-1', 'windows-1252'].map(charsetFamily)).toEqual(['euc-jp', 'iso-2022-jp', 'single-byte', 'single-byte']);
    expect([null, 'x-bogus', 'base64', 'unknown-8bit', 'utf-16le', 'gb18030'].map(charsetFamily)).toEqual([
      'guessed',
      'guessed',
      'guessed',
      'all-legacy',
      'other',
      'other',
    ]);
  });
});
