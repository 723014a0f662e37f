// The body as the chunks it arrived in (MessageBytes.rest), read in place: a
// search for a boundary never joins the chunks, and only the parts that are
// read as text are ever copied out. Offsets are positions in the body as if
// the chunks were one buffer.

export class BodyBytes {
  readonly length: number;
  private readonly chunks: readonly Buffer[];
  /** starts[i]: offset of chunks[i]; one more entry, the length, at the end. */
  private readonly starts: number[];

  constructor(chunks: readonly Buffer[]) {
    const kept = chunks.filter((c) => c.length > 0);
    this.chunks = kept;
    this.starts = [];
    let at = 0;
    for (const c of kept) {
      this.starts.push(at);
      at += c.length;
    }
    this.starts.push(at);
    this.length = at;
  }

  /** The chunk holding offset `at` (binary search: a large message has hundreds of chunks). */
  private chunkAt(at: number): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  byteAt(at: number): number {
    if (at < 0 || at >= this.length) return -1;
    const i = this.chunkAt(at);
    return this.chunks[i]![at - this.starts[i]!]!;
  }

  /** Bytes [start, end): a view when they lie in one chunk, a copy only when they span several. */
  slice(start: number, end: number): Buffer {
    const s = Math.max(0, start);
    const e = Math.min(this.length, end);
    if (e <= s) return Buffer.alloc(0);
    const first = this.chunkAt(s);
    const last = this.chunkAt(e - 1);
    if (first === last) return this.chunks[first]!.subarray(s - this.starts[first]!, e - this.starts[first]!);
    const parts: Buffer[] = [];
    for (let i = first; i <= last; i++) {
      const from = Math.max(s, this.starts[i]!) - this.starts[i]!;
      const to = Math.min(e, this.starts[i + 1]!) - this.starts[i]!;
      parts.push(this.chunks[i]!.subarray(from, to));
    }
    return Buffer.concat(parts, e - s);
  }

  /**
   * First offset >= from where `needle` lies wholly inside [from, to), or -1.
   * Each chunk is searched in place; a match over a seam is found in a small
   * window around the seam (several tiny chunks in a row included).
   * `anchor`: the index of a byte of the needle that is rare in the haystack,
   * searched for with memchr first (see findInChunk).
   */
  indexOf(needle: Buffer, from: number, to: number = this.length, anchor = -1): number {
    const n = needle.length;
    const end = Math.min(to, this.length);
    if (n === 0 || from < 0 || end - from < n) return -1;
    for (let i = this.chunkAt(from); i < this.chunks.length && this.starts[i]! < end; i++) {
      const base = this.starts[i]!;
      const chunk = this.chunks[i]!;
      const lo = Math.max(from, base) - base;
      const hi = Math.min(end, base + chunk.length) - base;
      if (hi - lo >= n) {
        const found = findInChunk(chunk, lo, hi, needle, anchor);
        if (found !== -1) return base + found;
      }
      const seam = base + chunk.length;
      if (seam >= end) break;
      // Building the seam window allocates; most seams can be ruled out in place.
      if (anchor >= 0 && chunk.length >= n && !mayCross(chunk, needle, anchor, Math.max(lo, chunk.length - n + 1))) continue;
      const wFrom = Math.max(from, seam - n + 1);
      const window = this.slice(wFrom, Math.min(end, seam + n - 1));
      const crossing = window.indexOf(needle);
      if (crossing !== -1 && wFrom + crossing < seam) return wFrom + crossing;
    }
    return -1;
  }

  startsWith(needle: Buffer, at: number): boolean {
    if (at + needle.length > this.length) return false;
    return this.slice(at, at + needle.length).equals(needle);
  }
}

// Past this many anchor bytes that start no match in one chunk, the plain search takes over.
const MAX_ANCHOR_MISSES = 64;

/**
 * A delimiter "\r\n--boundary" starts with a line break, which a base64 body
 * has every 78 bytes: Buffer.indexOf then verifies at every line and a 5 MB
 * attachment costs ~0.8 ms. Its '-' never occurs in base64, so memchr for it
 * runs at memory speed (~70 us). Text dense with the anchor byte falls back to
 * the plain search, so the worst case stays linear.
 */
function findInChunk(chunk: Buffer, lo: number, hi: number, needle: Buffer, anchor: number): number {
  const n = needle.length;
  if (anchor >= 0) {
    const a = needle[anchor]!;
    let misses = 0;
    for (let p = chunk.indexOf(a, lo + anchor); p !== -1 && p - anchor + n <= hi; p = chunk.indexOf(a, p + 1)) {
      const s = p - anchor;
      if (chunk.compare(needle, 0, n, s, s + n) === 0) return s;
      if (++misses > MAX_ANCHOR_MISSES) {
        lo = s + 1;
        break;
      }
    }
    if (misses <= MAX_ANCHOR_MISSES) return -1;
  }
  const found = chunk.subarray(lo, hi).indexOf(needle);
  return found === -1 ? -1 : lo + found;
}

/**
 * Whether a match of `needle` may start at or after `tailFrom` and run past
 * the chunk's end: its anchor byte is in the chunk's tail, or the chunk ends
 * with the part of the needle before its anchor.
 */
function mayCross(chunk: Buffer, needle: Buffer, anchor: number, tailFrom: number): boolean {
  if (tailFrom + anchor < chunk.length && chunk.indexOf(needle[anchor]!, tailFrom + anchor) !== -1) return true;
  for (let k = 1; k <= anchor; k++) {
    const s = chunk.length - k;
    if (s >= tailFrom && chunk.compare(needle, 0, k, s, chunk.length) === 0) return true;
  }
  return false;
}
