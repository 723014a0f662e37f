// The analysis as the proxy runs it, for tests that start from message bytes:
// one input shape, and the refusal decide() makes of the findings, so tests
// assert the same reply the mailer would get.
import type { AnalysisInput, Envelope, MessageAnalysis } from '../../src/analysis/analyse.js';
import { parseConfigObject } from '../../src/config/load.js';
import { createDecide } from '../../src/policy/decide.js';

/** Bytes as they are: callers that want CRLF-normalised input normalise first. */
export const asInput = (message: Buffer): AnalysisInput => ({ head: message, rest: [] });

const decide = createDecide(parseConfigObject({}).policy);

/** The code and enhanced code of the refusal the default policy gives these findings, or null when the findings allow judging the exposure. */
export function refusal(analysis: MessageAnalysis, envelope: Envelope = { mailFrom: '', rcptTo: [] }): { code: number; enhanced: string } | null {
  if (analysis.findings.length === 0) return null;
  const verdict = decide({ ...analysis, content: null }, { context: { ...envelope, clientAddress: '127.0.0.1' }, headerFromDomain: null });
  return verdict.rejectReply ? { code: verdict.rejectReply.code, enhanced: verdict.rejectReply.enhanced } : null;
}
