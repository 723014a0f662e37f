import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Transform } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isNormalisedPiece } from '../../../src/message/line-endings.js';
import { assembleMessage, messageChunks, withHead } from '../../../src/message/message-bytes.js';
import { installFastDotStuffing } from '../../../src/upstream/fast-dot-stuffing.js';
import { cutInto } from '../../helpers/chunking.js';

// nodemailer does not export its DataStream; load the file it ships to compare against.
const { default: DataStream } = (await import(pathToFileURL(resolve('node_modules/nodemailer/dist/esm/smtp-connection/data-stream.js')).href)) as {
  default: new () => Transform & { inByteCount: number; outByteCount: number; lastByte: number | false };
};

async function encode(chunks: Buffer[], fast: boolean): Promise<{ bytes: Buffer; pushes: number; inBytes: number; outBytes: number }> {
  const stream = new DataStream();
  if (fast) installFastDotStuffing(stream);
  const out: Buffer[] = [];
  stream.on('data', (b: Buffer) => out.push(b));
  const ended = new Promise((r) => stream.on('end', r));
  for (const c of chunks) stream.write(c);
  stream.end();
  await ended;
  return { bytes: Buffer.concat(out), pushes: out.length, inBytes: stream.inByteCount, outBytes: stream.outByteCount };
}

const lineMaterial = fc.constantFrom('a', 'b', '.', '..', '\r\n', '\r\n.', '\n', '\r', '.\r\n', ' ', 'ü', '\r\r\n', '\n\n.');
const message = fc.array(lineMaterial, { maxLength: 60 }).map((parts) => Buffer.from(parts.join(''), 'utf8'));
// Only CRLF line ends: the fast path proper, with cuts that may fall between CR and LF.
const crlfMessage = fc
  .array(fc.constantFrom('a', '.', '..', '\r\n', '\r\n.', '.\r\n', ' ', 'ü'), { maxLength: 60 })
  .map((parts) => Buffer.from(parts.join(''), 'utf8'));

describe('fast dot-stuffing', () => {
  it('writes exactly the bytes nodemailer would, for any message cut into any chunks', async () => {
    await fc.assert(
      fc.asyncProperty(message, fc.array(fc.nat(), { maxLength: 5 }), async (buf, cuts) => {
        const chunks = cutInto(buf, cuts);
        const [slow, fast] = await Promise.all([encode(chunks, false), encode(chunks, true)]);
        expect(fast.bytes.toString('latin1')).toBe(slow.bytes.toString('latin1'));
        expect(fast.inBytes).toBe(slow.inBytes);
        expect(fast.outBytes).toBe(slow.outBytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('matches nodemailer on CRLF-only messages (the fast path)', async () => {
    await fc.assert(
      fc.asyncProperty(crlfMessage, fc.array(fc.nat(), { maxLength: 5 }), async (buf, cuts) => {
        const chunks = cutInto(buf, cuts);
        const [slow, fast] = await Promise.all([encode(chunks, false), encode(chunks, true)]);
        expect(fast.bytes.toString('latin1')).toBe(slow.bytes.toString('latin1'));
      }),
      { numRuns: 2000 },
    );
  });

  it('the pieces of a message normalised on receipt skip the second scan and still match nodemailer, also under a rewritten head', async () => {
    await fc.assert(
      fc.asyncProperty(message, fc.array(fc.nat(), { maxLength: 5 }), fc.constantFrom(16, 1 << 20), async (buf, cuts, maxHeader) => {
        // Small header limits force the head/rest split; a 1 MB one keeps small messages whole.
        const assembled = assembleMessage(cutInto(buf, cuts), maxHeader);
        for (const piece of messageChunks(assembled)) expect(isNormalisedPiece(piece)).toBe(true);
        for (const m of [assembled, withHead(assembled, Buffer.from('X-Rewritten: 1\r'))]) {
          const chunks = [...messageChunks(m)];
          const [slow, fast] = await Promise.all([encode(chunks, false), encode(chunks, true)]);
          expect(fast.bytes.toString('latin1')).toBe(slow.bytes.toString('latin1'));
          expect(fast.outBytes).toBe(slow.outBytes);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('sends a small CRLF message and its final dot in one write', async () => {
    const msg = Buffer.from('From: a@example.co.jp\r\n\r\n.dot\r\nbody\r\n');
    const fast = await encode([msg], true);
    expect(fast.pushes).toBe(1);
    expect(fast.bytes.toString()).toBe('From: a@example.co.jp\r\n\r\n..dot\r\nbody\r\n.\r\n');
  });
});
