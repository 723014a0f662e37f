// The content scan as the pipeline runs it, for tests that start from message
// bytes: CRLF-normalised, the header block parsed by the strict gate, and the
// body handed over in the chunks a large message arrives in.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Envelope } from '../../../../src/analysis/analyse.js';
import { createContentScanner } from '../../../../src/analysis/content/content-scan.js';
import type { ContentLimits, ContentReport, ContentScanOptions } from '../../../../src/analysis/content/content-report.js';
import { parseHeaderBlock } from '../../../../src/analysis/header-block.js';
import { normaliseLineEndings } from '../../../../src/message/line-endings.js';

export const CONTENT_FIXTURES = fileURLToPath(new URL('../../../fixtures/content/', import.meta.url));
export const EML_FIXTURES = fileURLToPath(new URL('../../../fixtures/eml/', import.meta.url));

export const DEFAULT_LIMITS: ContentLimits = { maxParts: 500, maxDepth: 10, maxDecodedBytes: 32 * 1024 * 1024, maxCells: 1_000_000, maxScanMs: 2000 };
export const INTERNAL = ['example.co.jp', '*.example.co.jp'];
export const TO_CLIENT: Envelope = { mailFrom: 'sato@example.co.jp', rcptTo: ['client@partner.example'] };

export function scanner(options: Partial<Omit<ContentScanOptions, 'limits'>> & { limits?: Partial<ContentLimits> } = {}) {
  return createContentScanner({
    internalDomains: options.internalDomains ?? INTERNAL,
    skipAtOrBelow: options.skipAtOrBelow ?? 0,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    now: options.now ?? (() => 0),
  });
}

export const fixture = (name: string): Buffer => normaliseLineEndings(readFileSync(CONTENT_FIXTURES + name));

/**
 * Scans `message` with its body in chunks of `chunkSize` bytes (0: one
 * buffer), so boundaries and at-signs fall across chunk seams.
 */
export function scanBytes(scan: ReturnType<typeof scanner>, message: Buffer, envelope: Envelope = TO_CLIENT, chunkSize = 0): ContentReport {
  const header = parseHeaderBlock(message, 1 << 20);
  if (chunkSize === 0) return scan({ head: message, rest: [] }, header, envelope);
  const head = message.subarray(0, header.bodyOffset);
  const rest: Buffer[] = [];
  for (let i = header.bodyOffset; i < message.length; i += chunkSize) rest.push(message.subarray(i, i + chunkSize));
  return scan({ head, rest }, { ...header, bodyOffset: head.length }, envelope);
}
