import type { Transform, TransformCallback } from 'node:stream';
import { firstBareLineEnding, isNormalisedPiece } from '../message/line-endings.js';

// nodemailer's DataStream dot-stuffs and fixes line endings with a JavaScript
// loop over every byte: about half of the proxy's CPU on a 5 MB message, and
// two socket writes per message (content, then the final dot). Messages reach
// the upstream already CRLF-normalised (we analyse exactly what we forward), so
// only dots need stuffing: the native indexOf finds them. Anything with a bare
// CR or LF still goes through nodemailer's own code, so the bytes on the wire
// are the same either way (a property test compares the two).

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const LF_DOT = Buffer.from('\n.');
const DOT_BYTE = Buffer.from('.');
const END_AFTER_LF = Buffer.from('.\r\n');
const END_AFTER_CR = Buffer.from('\n.\r\n');
const END_OTHERWISE = Buffer.from('\r\n.\r\n');
/** Up to this size the last chunk and the final dot leave in one write. */
const JOIN_LIMIT = 64 * 1024;

type DataStream = Transform & { inByteCount: number; outByteCount: number; lastByte: number | false };

function hasBareLineEnding(chunk: Buffer, lastByte: number | false): boolean {
  if (lastByte === CR && chunk[0] !== LF) return true;
  if (chunk[0] === LF && lastByte !== CR) return true;
  // A piece of a message normalised on receipt (message-bytes.ts): its inside was scanned then, its edges just now.
  if (isNormalisedPiece(chunk)) return false;
  const first = firstBareLineEnding(chunk);
  // A CR at the very end may be completed by the next chunk's LF: judged then, or in flush.
  return first !== -1 && !(first === chunk.length - 1 && chunk[first] === CR);
}

function stuffDots(chunk: Buffer, lastByte: number | false): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  if (chunk[0] === DOT && (lastByte === LF || lastByte === false)) {
    parts.push(DOT_BYTE);
  }
  for (let at = chunk.indexOf(LF_DOT); at !== -1; at = chunk.indexOf(LF_DOT, at + 1)) {
    parts.push(chunk.subarray(from, at + 1), DOT_BYTE);
    from = at + 1;
  }
  if (parts.length === 0) return chunk;
  parts.push(chunk.subarray(from));
  return Buffer.concat(parts);
}

/** Replaces the byte loop of one nodemailer DataStream instance; same output. */
export function installFastDotStuffing(stream: DataStream): void {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- the original, called with .call(this)
  const slowTransform = stream._transform;
  let held: Buffer | null = null;

  stream._transform = function (this: DataStream, chunk: Buffer | string, encoding: BufferEncoding, done: TransformCallback) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!bytes.length) return done();
    if (held) {
      this.push(held);
      held = null;
    }
    if (hasBareLineEnding(bytes, this.lastByte)) return slowTransform.call(this, bytes, encoding, done);
    this.inByteCount += bytes.length;
    held = stuffDots(bytes, this.lastByte);
    this.outByteCount += held.length;
    this.lastByte = bytes[bytes.length - 1]!;
    done();
  };

  stream._flush = function (this: DataStream, done: TransformCallback) {
    const end = this.lastByte === LF ? END_AFTER_LF : this.lastByte === CR ? END_AFTER_CR : END_OTHERWISE;
    this.outByteCount += end.length;
    if (held && held.length <= JOIN_LIMIT) this.push(Buffer.concat([held, end]));
    else {
      if (held) this.push(held);
      this.push(end);
    }
    held = null;
    done();
  };
}
