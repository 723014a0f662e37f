// One carrier part's bytes, taken from the body at most once: the pre-scan and
// the full scan share them, and every byte taken is charged to the
// decoded-bytes bound before it is copied or decoded.

import type { BodyRef } from './mime-walk.js';
import { atSignsIn, atSignsInQuotedPrintable } from './prescan.js';
import type { Reading } from './part-kind.js';
import { decodedSizeAtMost, transferDecode } from './part-text.js';
import type { ScanState } from './scan-state.js';

const PGP_ARMOR = Buffer.from('-----BEGIN PGP MESSAGE-----');

export class Carrier {
  private raw: Buffer | null = null;
  private decoded: Buffer | null = null;
  private pgpChecked = false;

  constructor(
    private readonly ref: BodyRef,
    private readonly state: ScanState,
  ) {}

  /** The part's bytes as written, or null when the decoded-bytes bound stops it. */
  rawBytes(): Buffer | null {
    if (this.raw === null) {
      if (!this.state.take(this.ref.end - this.ref.start)) return null;
      this.raw = this.ref.body.slice(this.ref.start, this.ref.end);
    }
    return this.raw;
  }

  /** After transfer decoding, or null when a bound stops it. */
  bytes(): Buffer | null {
    if (this.decoded !== null) return this.decoded;
    const raw = this.rawBytes();
    if (raw === null) return null;
    if (this.ref.encoding === 'identity') return (this.decoded = raw);
    if (!this.state.take(decodedSizeAtMost(raw.length, this.ref.encoding))) return null;
    this.decoded = transferDecode(raw, this.ref.encoding);
    return this.decoded;
  }

  /** The pre-scan's bound on its at-signs: null when a bound stopped it. */
  atSigns(reading: Reading): number | null {
    if (this.decoded === null && this.ref.encoding === 'quoted-printable') {
      const raw = this.rawBytes();
      if (raw === null) return null;
      const cheap = atSignsInQuotedPrintable(raw, this.ref.charset, reading);
      if (cheap !== null) return cheap;
    }
    const bytes = this.bytes();
    return bytes === null ? null : atSignsIn(bytes, this.ref.charset, reading);
  }

  /** True the first time it is asked for a part holding an inline PGP message (armor is ASCII: seen raw or decoded). */
  holdsPgpMessage(): boolean {
    if (this.pgpChecked) return false;
    const bytes = this.decoded ?? (this.ref.encoding === 'base64' ? null : this.raw);
    if (bytes === null) return false;
    this.pgpChecked = true;
    return bytes.includes(PGP_ARMOR);
  }

  get charset(): string | null {
    return this.ref.charset;
  }
}
