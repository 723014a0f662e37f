// The ZIP container of an XLSX or ODS, read as hostile input: the central
// directory (APPNOTE.txt 4.3.12) for names, flags and declared sizes, then
// bounded inflation of the few entries the reader asks for, by Node's own
// zlib (synchronous, so still a pure function of the bytes). A ZIP library
// would add nothing we can use: fflate's unzipSync, for one, hides the
// general-purpose flags (the encryption bit) and decodes an entry that lies
// about its size to the end, dropping the bytes past its buffer, so the CPU of
// the bomb is spent anyway.

import { inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  readonly name: string;
  /** General-purpose bit 0 (traditional PKWARE encryption), or method 99 (WinZip AES). */
  readonly encrypted: boolean;
  readonly method: number;
  readonly compressedSize: number;
  /** As the directory declares it: a bomb lies here, so it is checked again while inflating. */
  readonly declaredSize: number;
  readonly localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;
/** EOCD (22) plus the longest comment (65535). */
const EOCD_SEARCH = 22 + 0xffff;

const u16 = (b: Uint8Array, o: number): number => (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8);
const u32 = (b: Uint8Array, o: number): number => (u16(b, o) | (u16(b, o + 2) << 16)) >>> 0;
/** A ZIP64 size or offset; above 2^53 it is no real file, so Infinity (past every bound). */
const u64 = (b: Uint8Array, o: number): number => {
  const high = u32(b, o + 4);
  return high >= 0x200000 ? Infinity : high * 0x100000000 + u32(b, o);
};

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

/** The entries of the central directory, or null when the bytes are not a (complete) ZIP. */
export function readZipDirectory(bytes: Uint8Array): ZipEntry[] | null {
  const eocd = findEocd(bytes);
  if (eocd < 0) return null;
  let count = u16(bytes, eocd + 10);
  let offset = u32(bytes, eocd + 16);
  if (count === 0xffff || offset === U32_MAX) {
    const locator = eocd - 20;
    if (locator < 0 || u32(bytes, locator) !== EOCD64_LOCATOR) return null;
    const eocd64 = u64(bytes, locator + 8);
    if (!(eocd64 + 56 <= bytes.length) || u32(bytes, eocd64) !== EOCD64) return null;
    count = u64(bytes, eocd64 + 32);
    offset = u64(bytes, eocd64 + 48);
  }
  const entries: ZipEntry[] = [];
  // Each entry is at least 46 bytes, so `count` cannot drive the loop past the buffer.
  for (let i = 0; i < count; i++) {
    if (offset + 46 > bytes.length || u32(bytes, offset) !== CENTRAL) return null;
    const flags = u16(bytes, offset + 8);
    const method = u16(bytes, offset + 10);
    let compressedSize = u32(bytes, offset + 20);
    let declaredSize = u32(bytes, offset + 24);
    const nameLength = u16(bytes, offset + 28);
    const extraLength = u16(bytes, offset + 30);
    const commentLength = u16(bytes, offset + 32);
    let localHeaderOffset = u32(bytes, offset + 42);
    const nameStart = offset + 46;
    const extraStart = nameStart + nameLength;
    const next = extraStart + extraLength + commentLength;
    if (next > bytes.length) return null;
    if (declaredSize === U32_MAX || compressedSize === U32_MAX || localHeaderOffset === U32_MAX) {
      const zip64 = readZip64Extra(bytes.subarray(extraStart, extraStart + extraLength), declaredSize, compressedSize, localHeaderOffset);
      if (zip64 === null) return null;
      ({ declaredSize, compressedSize, localHeaderOffset } = zip64);
    }
    // Bit 11: the name is UTF-8; otherwise CP437, of which only ASCII matters for the part names we look for.
    const nameBytes = bytes.subarray(nameStart, extraStart);
    const name = (flags & 0x800 ? utf8 : latin1).decode(nameBytes);
    entries.push({ name, encrypted: (flags & 1) === 1 || method === 99, method, compressedSize, declaredSize, localHeaderOffset });
    offset = next;
  }
  return entries;
}

function findEocd(bytes: Uint8Array): number {
  const lowest = Math.max(0, bytes.length - EOCD_SEARCH);
  for (let at = bytes.length - 22; at >= lowest; at--) {
    if (u32(bytes, at) === EOCD) return at;
  }
  return -1;
}

/** The ZIP64 extended information field (header 0x0001): only the fields that were 0xFFFFFFFF are present, in this order. */
function readZip64Extra(
  extra: Uint8Array,
  declaredSize: number,
  compressedSize: number,
  localHeaderOffset: number,
): { declaredSize: number; compressedSize: number; localHeaderOffset: number } | null {
  for (let at = 0; at + 4 <= extra.length;) {
    const id = u16(extra, at);
    const size = u16(extra, at + 2);
    if (id === 0x0001) {
      let field = at + 4;
      const end = field + size;
      const take = (value: number): number => {
        if (value !== U32_MAX) return value;
        if (field + 8 > end) return NaN;
        const wide = u64(extra, field);
        field += 8;
        return wide;
      };
      const result = { declaredSize: take(declaredSize), compressedSize: take(compressedSize), localHeaderOffset: take(localHeaderOffset) };
      return Number.isNaN(result.declaredSize + result.compressedSize + result.localHeaderOffset) ? null : result;
    }
    at += 4 + size;
  }
  return null;
}

export type Inflated =
  | { readonly ok: true; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly why: 'unreadable' }
  /** The entry would take (or took) more than `allowance` bytes: nothing of it is returned; `inflated` bytes were produced before it stopped. */
  | { readonly ok: false; readonly why: 'bound'; readonly inflated: number };

/**
 * The entry's content, at most `allowance` bytes of it. The declared size is
 * checked before any work; the real output is checked after every step,
 * because the declared size is the attacker's word.
 */
export function inflateEntry(bytes: Uint8Array, entry: ZipEntry, allowance: number): Inflated {
  if (entry.declaredSize > allowance) return { ok: false, why: 'bound', inflated: 0 };
  const local = entry.localHeaderOffset;
  if (local + 30 > bytes.length || u32(bytes, local) !== LOCAL) return { ok: false, why: 'unreadable' };
  // The local header's name and extra lengths can differ from the central directory's.
  const dataStart = local + 30 + u16(bytes, local + 26) + u16(bytes, local + 28);
  const dataEnd = dataStart + entry.compressedSize;
  if (dataEnd > bytes.length) return { ok: false, why: 'unreadable' };
  const data = bytes.subarray(dataStart, dataEnd);
  if (entry.method === 0) {
    return data.length > allowance ? { ok: false, why: 'bound', inflated: 0 } : { ok: true, bytes: data };
  }
  if (entry.method !== 8) return { ok: false, why: 'unreadable' };
  return inflateBounded(data, allowance);
}

function inflateBounded(data: Uint8Array, allowance: number): Inflated {
  try {
    // maxOutputLength stops zlib as its output passes the allowance: a lying entry costs no more than an honest one.
    const out = inflateRawSync(data, { maxOutputLength: Math.max(1, allowance) });
    return out.length > allowance ? { ok: false, why: 'bound', inflated: out.length } : { ok: true, bytes: out };
  } catch (error) {
    if (isZlibError(error) && error.code === 'ERR_BUFFER_TOO_LARGE') return { ok: false, why: 'bound', inflated: allowance };
    // Z_DATA_ERROR (not DEFLATE), Z_BUF_ERROR (truncated): the part cannot be read.
    return { ok: false, why: 'unreadable' };
  }
}

function isZlibError(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}
