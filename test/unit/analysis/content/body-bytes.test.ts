// The body read in place over its chunks: a needle over any seam (several
// tiny chunks in a row included) is found where one joined buffer finds it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BodyBytes } from '../../../../src/analysis/content/body-bytes.js';

function split(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const c of at) {
    chunks.push(buf.subarray(from, c));
    from = c;
  }
  chunks.push(buf.subarray(from));
  return chunks;
}

describe('BodyBytes', () => {
  it('finds what one buffer finds, from any offset, over any chunking', () => {
    const alphabet = fc.constantFrom(...'ab-\r\n');
    fc.assert(
      fc.property(
        fc.string({ unit: alphabet, maxLength: 60 }),
        fc.string({ unit: alphabet, minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.nat(60),
        (text, needle, cuts, from) => {
          const whole = Buffer.from(text);
          const body = new BodyBytes(split(whole, cuts));
          const n = Buffer.from(needle);
          const start = Math.min(from, whole.length);
          const expected = whole.indexOf(n, start) < start ? -1 : whole.indexOf(n, start);
          expect(body.indexOf(n, start)).toBe(expected);
          // Anchored on any byte of the needle, the memchr-first search finds the same.
          expect(body.indexOf(n, start, body.length, n.length - 1)).toBe(expected);
          expect(body.indexOf(n, start, body.length, 0)).toBe(expected);
          expect(body.indexOf(n, start, body.length, Math.min(2, n.length - 1))).toBe(expected);
          expect(body.slice(start, start + 5).equals(whole.subarray(start, start + 5))).toBe(true);
          expect(body.byteAt(start)).toBe(start < whole.length ? whole[start] : -1);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('falls back to the plain search when the anchor byte is everywhere', () => {
    const dense = Buffer.concat([Buffer.from('\r\n-'.repeat(500)), Buffer.from('\r\n--b')]);
    expect(new BodyBytes([dense]).indexOf(Buffer.from('\r\n--b'), 0, dense.length, 2)).toBe(1500);
  });

  it('does not find a needle that runs past the end of the range', () => {
    const body = new BodyBytes([Buffer.from('xx--b'), Buffer.from('ound')]);
    expect(body.indexOf(Buffer.from('--bound'), 0, 9)).toBe(2);
    expect(body.indexOf(Buffer.from('--bound'), 0, 8)).toBe(-1);
  });
});
