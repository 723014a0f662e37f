import { markNormalised, normaliseLineEndings } from './line-endings.js';

/**
 * A received message as it will be forwarded: line endings normalised, the
 * whole header block contiguous in `head` (what analysis and rewrites touch),
 * and the rest of the body in the chunks it arrived in. A large message is
 * never copied into one buffer, and a split shares its body between copies.
 */
export interface MessageBytes {
  readonly head: Buffer;
  readonly rest: readonly Buffer[];
  readonly size: number;
}

const CR = 0x0d;
const LF = 0x0a;
const LF_ONLY = Buffer.from('\n');
const CRLF = Buffer.from('\r\n');
const BLANK_LINE = Buffer.from('\r\n\r\n');
/** Up to this size a message is simply joined into one buffer. */
const INLINE_LIMIT = 256 * 1024;

/** CRLF normalisation across chunk boundaries: a CR at the end of one chunk may pair with an LF at the start of the next. */
export function normaliseChunks(chunks: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let lastByte = -1;
  for (const chunk of chunks) {
    if (chunk.length === 0) continue;
    let from = 0;
    if (lastByte === CR) {
      if (chunk[0] === LF) {
        out.push(chunk.subarray(0, 1));
        from = 1;
      } else {
        out.push(LF_ONLY);
      }
    } else if (chunk[0] === LF) {
      out.push(CRLF);
      from = 1;
    }
    // A trailing CR is judged by the next chunk (or the end of the message).
    const end = chunk[chunk.length - 1] === CR ? chunk.length - 1 : chunk.length;
    if (end > from) out.push(normaliseLineEndings(from === 0 && end === chunk.length ? chunk : chunk.subarray(from, end)));
    if (end < chunk.length) out.push(chunk.subarray(end));
    lastByte = chunk[chunk.length - 1]!;
  }
  if (lastByte === CR) out.push(LF_ONLY);
  return out;
}

/**
 * Builds MessageBytes from the chunks smtp-server delivered. The head grows
 * until it holds the blank line that ends the header block, or more than
 * `maxHeaderBytes` (analysis then refuses the message as too big).
 */
export function assembleMessage(chunks: readonly Buffer[], maxHeaderBytes: number): MessageBytes {
  const pieces = chunks.length === 1 ? [normaliseLineEndings(chunks[0]!)] : normaliseChunks(chunks);
  let size = 0;
  for (const p of pieces) size += p.length;
  if (pieces.length <= 1) return { head: markNormalised(pieces[0] ?? Buffer.alloc(0)), rest: [], size };
  if (size <= INLINE_LIMIT) return { head: markNormalised(Buffer.concat(pieces, size)), rest: [], size };

  let headLength = 0;
  let used = 0;
  let carry = Buffer.alloc(0);
  while (used < pieces.length) {
    const piece = pieces[used++]!;
    const window = Buffer.concat([carry, piece]);
    headLength += piece.length;
    if ((headLength === piece.length && piece[0] === CR && piece[1] === LF) || window.indexOf(BLANK_LINE) !== -1) break;
    if (headLength > maxHeaderBytes) break;
    carry = window.subarray(Math.max(0, window.length - 3));
  }
  const rest = pieces.slice(used);
  for (const piece of rest) markNormalised(piece);
  return { head: markNormalised(Buffer.concat(pieces.slice(0, used), headLength)), rest, size };
}

/** The same message with a rewritten head (bcc, split): the body chunks are shared, not copied. */
export function withHead(message: MessageBytes, head: Buffer): MessageBytes {
  return { head, rest: message.rest, size: message.size - message.head.length + head.length };
}

export function messageChunks(message: MessageBytes): Buffer[] {
  return message.rest.length ? [message.head, ...message.rest] : [message.head];
}
