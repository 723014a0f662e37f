import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseLineEndings } from '../../../src/message/line-endings.js';
import { cutInto } from '../../helpers/chunking.js';
import { assembleMessage, messageChunks, normaliseChunks, withHead } from '../../../src/message/message-bytes.js';

const material = fc.constantFrom('a', 'To: x@y.z', '\r\n', '\n', '\r', '\r\n\r\n', ' ', 'ü', '\r\r\n');
const text = fc.array(material, { maxLength: 80 }).map((p) => Buffer.from(p.join(''), 'utf8'));

describe('normaliseChunks', () => {
  it('gives the same bytes as normalising the joined message, however it was cut', () => {
    fc.assert(
      fc.property(text, fc.array(fc.nat(), { maxLength: 6 }), (buf, cuts) => {
        const joined = Buffer.concat(normaliseChunks(cutInto(buf, cuts)));
        expect(joined.toString('latin1')).toBe(normaliseLineEndings(buf).toString('latin1'));
      }),
      { numRuns: 3000 },
    );
  });

  it('passes clean chunks through without copying them', () => {
    const a = Buffer.from('From: a@example.co.jp\r\n');
    const b = Buffer.from('To: b@ext.com\r\n\r\nbody\r\n');
    const out = normaliseChunks([a, b]);
    expect(out).toHaveLength(2);
    expect(out[0]).toBe(a);
    expect(out[1]).toBe(b);
  });
});

describe('assembleMessage', () => {
  const header = 'From: news@example.co.jp\r\nTo: a@ext1.com,\r\n b@ext2.com\r\nSubject: big\r\n\r\n';
  const bodyChunk = Buffer.alloc(64 * 1024, 'x');

  it('keeps a large body in its chunks and the whole header block in the head', () => {
    // The header block itself arrives cut in two, across the folded To line.
    const chunks = [Buffer.from(header.slice(0, 40)), Buffer.from(header.slice(40)), ...Array.from({ length: 8 }, () => bodyChunk)];
    const message = assembleMessage(chunks, 1 << 20);
    expect(message.head.toString('latin1').startsWith(header)).toBe(true);
    expect(message.rest.length).toBe(8);
    expect(message.rest[0]).toBe(bodyChunk);
    expect(message.size).toBe(header.length + 8 * bodyChunk.length);
    expect(Buffer.concat(messageChunks(message)).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('joins small messages into one buffer and normalises line endings', () => {
    const message = assembleMessage([Buffer.from('From: a@example.co.jp\nTo: b@ext.com\r'), Buffer.from('\n\nbody\n')], 1 << 20);
    expect(message.rest).toEqual([]);
    expect(message.head.toString()).toBe('From: a@example.co.jp\r\nTo: b@ext.com\r\n\r\nbody\r\n');
  });

  it('stops growing the head past maxHeaderBytes when no blank line comes', () => {
    const endless = Array.from({ length: 40 }, () => Buffer.from('X-Filler: ' + 'y'.repeat(16 * 1024 - 12) + '\r\n'));
    const message = assembleMessage(endless, 64 * 1024);
    expect(message.head.length).toBeGreaterThan(64 * 1024);
    expect(message.head.length).toBeLessThan(128 * 1024);
  });

  it('withHead swaps the head and shares the body', () => {
    const message = assembleMessage([Buffer.from(header), ...Array.from({ length: 5 }, () => bodyChunk)], 1 << 20);
    const copy = withHead(message, Buffer.from('To: <a@ext1.com>\r\n\r\n'));
    expect(copy.rest).toBe(message.rest);
    expect(copy.size).toBe(message.size - message.head.length + 20);
  });
});
