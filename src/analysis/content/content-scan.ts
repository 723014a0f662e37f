// Placeholder until the scanner lands (issue 14): the signature the policy and
// the pipeline are wired against. Replaced by the real bounded scan.

import type { AnalysisInput, Envelope } from '../analyse.js';
import type { HeaderBlock } from '../header-block.js';
import type { ContentReport, ContentScanOptions } from './content-report.js';

/** `header`: the root header block analyse() already parsed (MessageAnalysis.header). */
export type ContentScan = (message: AnalysisInput, header: HeaderBlock, envelope: Envelope) => ContentReport;

export function createContentScanner(options: ContentScanOptions): ContentScan {
  void options;
  return () => {
    throw new Error('content scan not implemented yet');
  };
}
