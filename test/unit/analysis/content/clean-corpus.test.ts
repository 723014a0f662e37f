// The header fixtures (test/fixtures/eml) are the clean corpus: their bodies
// hold no address lists, so the content scan must find nothing beyond what a
// body really holds, and nearly all of them must not be decoded at all.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseHeaderBlock } from '../../../../src/analysis/header-block.js';
import { normaliseLineEndings } from '../../../../src/message/line-endings.js';
import { EML_FIXTURES, scanner } from './scan-helpers.js';

/** Fixtures whose body really holds an address, and the external addresses it holds. */
const BODY_ADDRESSES: Readonly<Record<string, readonly string[]>> = {
  // The SMTP-smuggling attempt after the NUL (analysis refuses the message for the NUL first).
  'nul-byte-in-body.eml': ['x@evil.example'],
};
/** Decoded at all (a possible at-sign in the body, with a threshold of 0): every other fixture is settled by the pre-scan. */
const DECODED = new Set(['nul-byte-in-body.eml', 'html-scripts-handlers-javascript-links-meta-refresh-base-css-url-srcset-svg-remote-images.eml']);

const scan = scanner({ skipAtOrBelow: 0 });

describe('the clean corpus stays clean', () => {
  for (const name of readdirSync(EML_FIXTURES).filter((f) => f.endsWith('.eml'))) {
    it(name, () => {
      const message = normaliseLineEndings(readFileSync(EML_FIXTURES + name));
      let header;
      try {
        header = parseHeaderBlock(message, 1 << 20);
      } catch {
        return expect(name).toMatch(/^malformed-|bare-cr|nul/);
      }
      const report = scan({ head: message, rest: [] }, header, { mailFrom: '', rcptTo: [] });
      const expected = BODY_ADDRESSES[name] ?? [];
      expect(report.scanned).toBe(DECODED.has(name));
      if (!report.scanned) return;
      expect(report.bound).toBeNull();
      expect(report.locations.flatMap((l) => l.addresses).sort()).toEqual([...expected].sort());
    });
  }
});
