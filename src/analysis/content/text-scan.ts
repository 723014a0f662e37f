// The address-text scan (address-text.ts) over a carrier's text, in slices so
// that the time bound is checked inside a long text, each slice read as a
// person reads it (format characters removed, NFKC) before the scan.

import { scanAddressText } from '../address-text.js';
import { asRead } from '../header-text.js';
import type { ScanState } from './scan-state.js';

const SLICE = 256 * 1024;
// How far back from a slice's end to look for a place no address can span.
const CUT_SEARCH = 4096;

/** Characters that never occur inside local@domain as the scan grows it. */
function separates(c: number): boolean {
  return c <= 0x20 || c === 0x22 || c === 0x2c || c === 0x3b || c === 0x3c || c === 0x3e || c === 0x28 || c === 0x29 || c === 0x5b || c === 0x5d || c === 0x3a;
}

function cutBefore(text: string, from: number, to: number): number {
  for (let i = to; i > Math.max(from, to - CUT_SEARCH); i--) if (separates(text.charCodeAt(i))) return i;
  return to;
}

/** False when the time bound stopped it part-way. */
export function scanText(text: string, state: ScanState, found: (address: string) => boolean): boolean {
  if (text.length <= SLICE) {
    scanAddressText(asRead(text), found);
    return true;
  }
  for (let from = 0; from < text.length;) {
    if (state.outOfTime()) return false;
    const to = from + SLICE >= text.length ? text.length : cutBefore(text, from, from + SLICE);
    scanAddressText(asRead(text.slice(from, to)), found);
    from = to;
  }
  return true;
}
