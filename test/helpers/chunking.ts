/** Cuts a buffer at the given points (taken modulo its length): how a message may arrive in TCP segments. */
export function cutInto(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(buf.subarray(from, p));
    from = p;
  }
  chunks.push(buf.subarray(from));
  return chunks;
}
