// Placeholder until the scanner lands (issue 14): the signature the policy and
// the pipeline are wired against. Replaced by the real bounded scan.

import type { AnalysisInput, Envelope } from '../analyse.js';
import type { ContentReport, ContentScanOptions } from './content-report.js';

export type ContentScan = (message: AnalysisInput, envelope: Envelope) => ContentReport;

export function createContentScanner(options: ContentScanOptions): ContentScan {
  void options;
  return () => {
    throw new Error('content scan not implemented yet');
  };
}
