import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseLineEndings } from '../../../src/message/line-endings.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const s = (buf: Buffer): string => buf.toString('latin1');
// The obvious, slow definition the fast implementation must agree with.
const reference = (text: string): string => text.replace(/\r\n|\r|\n/g, '\r\n');

describe('normaliseLineEndings', () => {
  it.each([
    ['bare LF', 'To: a\nCc: b\n\nbody\n', 'To: a\r\nCc: b\r\n\r\nbody\r\n'],
    ['bare CR', 'To: a@example.co.jp\rCc: x@ext1.com\r\n', 'To: a@example.co.jp\r\nCc: x@ext1.com\r\n'],
    ['CR CR LF', 'a\r\r\nb', 'a\r\n\r\nb'],
    ['LF CR', 'a\n\rb', 'a\r\n\r\nb'],
    ['LF first', '\nabc', '\r\nabc'],
    ['CR last', 'abc\r', 'abc\r\n'],
    ['dot smuggling shapes', 'x\n.\r\ny\r.\rz', 'x\r\n.\r\ny\r\n.\r\nz'],
  ])('%s', (_name, input, expected) => {
    expect(s(normaliseLineEndings(b(input)))).toBe(expected);
  });

  it.each([
    ['all CRLF', 'To: a\r\n\r\nbody\r\n'],
    ['no line breaks', 'abc'],
    ['empty', ''],
  ])('returns the same Buffer object when nothing changes: %s', (_name, input) => {
    const buf = b(input);
    expect(normaliseLineEndings(buf)).toBe(buf);
  });

  it('returns a new Buffer and leaves the input alone when it changes something', () => {
    const buf = b('a\nb');
    const out = normaliseLineEndings(buf);
    expect(out).not.toBe(buf);
    expect(s(buf)).toBe('a\nb');
  });

  it('5 MB of CRLF lines comes back as the same object; one bare LF at the very end is still found', () => {
    const big = b(('x'.repeat(76) + '\r\n').repeat(65_000));
    expect(normaliseLineEndings(big)).toBe(big);
    const tail = Buffer.concat([big, b('end\n')]);
    const out = normaliseLineEndings(tail);
    expect(out.length).toBe(tail.length + 1);
    expect(s(out.subarray(-5))).toBe('end\r\n');
  });

  it('agrees with the reference on arbitrary mixes of CR, LF and text', () => {
    const chars = fc.constantFrom('\r', '\n', 'a', '.', ' ', '\0');
    fc.assert(
      fc.property(
        fc.array(chars, { maxLength: 40 }).map((a) => a.join('')),
        (text) => {
          const out = normaliseLineEndings(b(text));
          expect(s(out)).toBe(reference(text));
          if (text === reference(text)) expect(out.length).toBe(text.length);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
