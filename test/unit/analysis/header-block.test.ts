import { describe, expect, it } from 'vitest';
import { parseHeaderBlock } from '../../../src/analysis/header-block.js';
import { HeaderTooBigError, MalformedHeaderError } from '../../../src/analysis/malformed.js';

const MAX = 1_048_576;
const b = (s: string): Buffer => Buffer.from(s, 'utf8');

/** What parseHeaderBlock threw: the typed error analyse() turns into a finding. */
function refusal(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    expect([HeaderTooBigError, MalformedHeaderError].some((type) => err instanceof type)).toBe(true);
    return err as Error;
  }
  throw new Error('expected a refusal');
}

describe('parseHeaderBlock: fields', () => {
  const raw = 'From: a@example.co.jp\r\nTO: x@ext1.com,\r\n\ty@ext2.com\r\nSubject: héllo\r\n\r\nbody\r\n';
  const msg = b(raw);
  const { fields, bodyOffset } = parseHeaderBlock(msg, MAX);

  it('keeps the name as written and a lower-case copy', () => {
    expect(fields.map((f) => [f.name, f.lowerName])).toEqual([
      ['From', 'from'],
      ['TO', 'to'],
      ['Subject', 'subject'],
    ]);
  });

  it('byte offsets cover each field including its final CRLF', () => {
    expect(fields.map((f) => msg.toString('utf8', f.start, f.end))).toEqual([
      'From: a@example.co.jp\r\n',
      'TO: x@ext1.com,\r\n\ty@ext2.com\r\n',
      'Subject: héllo\r\n',
    ]);
  });

  it('values are unfolded and decoded from UTF-8', () => {
    expect(fields.map((f) => f.value)).toEqual([' a@example.co.jp', ' x@ext1.com,\ty@ext2.com', ' héllo']);
  });

  it('bodyOffset is the first byte after the blank line', () => {
    expect(msg.toString('utf8', bodyOffset)).toBe('body\r\n');
  });
});

describe('parseHeaderBlock: shapes of the block', () => {
  it.each([
    ['headers only, ending in CRLF', 'To: a@b.c\r\n', 1],
    ['headers only, no final CRLF', 'To: a@b.c', 1],
    ['blank line and no body', 'To: a@b.c\r\n\r\n', 1],
    ['empty header block', '\r\nbody', 0],
    ['empty message', '', 0],
  ])('%s', (_name, raw, count) => {
    const msg = b(raw);
    const block = parseHeaderBlock(msg, MAX);
    expect(block.fields).toHaveLength(count);
    expect(block.bodyOffset).toBe(raw.startsWith('\r\n') ? 2 : msg.length);
    for (const f of block.fields) expect(f.end).toBeLessThanOrEqual(msg.length);
  });

  it('a value may be empty, and a colon in the value is just text', () => {
    const { fields } = parseHeaderBlock(b('Bcc:\r\nX-A: b:c\r\n\r\n'), MAX);
    expect(fields.map((f) => [f.lowerName, f.value])).toEqual([
      ['bcc', ''],
      ['x-a', ' b:c'],
    ]);
  });

  it("a NUL in the body is not the header gate's business", () => {
    expect(parseHeaderBlock(b('To: a@b.c\r\n\r\nbo\0dy'), MAX).fields).toHaveLength(1);
  });
});

describe('parseHeaderBlock: size bound', () => {
  const header = (bytes: number): string => {
    const prefix = 'X-Pad: ';
    return prefix + 'a'.repeat(bytes - prefix.length - 2) + '\r\n';
  };

  it('a header block of exactly maxHeaderBytes passes, one byte more is 552 5.3.4', () => {
    const max = 1000;
    expect(parseHeaderBlock(b(header(max) + '\r\nbody'), max).fields).toHaveLength(1);
    expect(refusal(() => parseHeaderBlock(b(header(max + 1) + '\r\nbody'), max))).toMatchObject({ name: 'HeaderTooBigError', maxBytes: max });
  });

  it('no blank line: the whole message is the header, and is bounded too', () => {
    const max = 1000;
    expect(parseHeaderBlock(b(header(max)), max).bodyOffset).toBe(max);
    expect(refusal(() => parseHeaderBlock(b(header(max + 1)), max))).toMatchObject({ name: 'HeaderTooBigError', maxBytes: max });
  });

  it('a big body behind a small header is fine', () => {
    const msg = b('To: a@b.c\r\n\r\n' + 'x'.repeat(5_000_000));
    expect(parseHeaderBlock(msg, 1000).bodyOffset).toBe(13);
  });
});

describe('parseHeaderBlock: strict gate (554 5.6.0 once decided)', () => {
  it.each([
    ['byte order mark', '\uFEFFTo: a@b.c\r\n\r\n', /byte order mark/],
    ['space in the name', 'To : a@b.c\r\n\r\n', /space, control or non-ASCII/],
    ['space inside the name', 'X Mailer: y\r\n\r\n', /space, control or non-ASCII/],
    ['control character in the name', 'T\x01o: a@b.c\r\n\r\n', /space, control or non-ASCII/],
    ['non-ASCII name', 'Tö: a@b.c\r\n\r\n', /space, control or non-ASCII/],
    ['colon-less line', 'To: a@b.c\r\nCc x@ext1.com\r\n\r\n', /without a colon/],
    ['colon only on a later line', 'To a@b.c\r\n continued: x\r\n\r\n', /without a colon/],
    ['first line starts with whitespace', ' To: a@b.c\r\n\r\n', /starts with whitespace/],
    ['first line starts with a tab', '\tTo: a@b.c\r\n\r\n', /starts with whitespace/],
    ['empty name', ': a@b.c\r\n\r\n', /empty name/],
    ['NUL in a value', 'To: a@b.c\0, x@ext1.com\r\n\r\n', /NUL/],
    ['bare LF (caller skipped normalisation)', 'To: a@b.c\nCc: x@ext1.com\r\n\r\n', /bare CR or LF/],
    ['bare CR (caller skipped normalisation)', 'To: a@b.c\rCc: x@ext1.com\r\n\r\n', /bare CR or LF/],
  ])('%s', (_name, raw, why) => {
    const r = refusal(() => parseHeaderBlock(b(raw), MAX));
    expect(r).toBeInstanceOf(MalformedHeaderError);
    expect((r as MalformedHeaderError).why).toMatch(why);
  });
});
