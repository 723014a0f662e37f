// Steps 1 and 2 of the pipeline and the check of every copy, in one pure
// function that the proxy and `mail-guard check` both call: the offline
// verdict and the wire verdict cannot differ, also when a split or bcc copy
// would still expose someone and the message is held instead.

import type { MessageAnalysis } from '../analysis/analyse.js';
import type { ContentReport } from '../analysis/content/content-report.js';
import type { ContentScan } from '../analysis/content/content-scan.js';
import type { MessageBytes } from '../message/message-bytes.js';
import type { Decide } from '../policy/decide.js';
import type { TransactionContext, Verdict } from '../policy/verdict.js';
import { prepareCopies, type Analyse, type CopyForm, type OutgoingCopy } from './outgoing-copies.js';

export interface Judgement {
  readonly analysis: MessageAnalysis;
  readonly verdict: Verdict;
  /** What the content scan found; null when it did not run (no threshold configured, or the header block could not be read). */
  readonly content: ContentReport | null;
  /** For a bcc or split verdict: the checked copies to send. */
  readonly copies: readonly OutgoingCopy[] | null;
  /** A bcc or split copy failed its check: the verdict was turned into quarantine. */
  readonly withheld: { readonly form: CopyForm; readonly reason: string } | null;
}

/**
 * `scanContent`: null when no content threshold is configured (the clean path
 * as before). The content is scanned once, here: bcc and split copies differ
 * from the message only in their headers, so their checks do not scan again.
 */
export function judgeMessage(
  analyse: Analyse,
  decide: Decide,
  message: MessageBytes,
  context: TransactionContext,
  scanContent: ContentScan | null = null,
): Judgement {
  const analysis = analyse(message, context);
  // A finding (malformed, NUL, past the address bound) is refused whatever the content holds.
  const content = scanContent !== null && analysis.findings.length === 0 ? scanContent(message, analysis.header, context) : null;
  const verdict = decide(
    { findings: analysis.findings, exposure: analysis.exposure, content },
    { context, headerFromDomain: analysis.headerFrom?.domain ?? null },
  );
  if (verdict.action !== 'bcc' && verdict.action !== 'split') return { analysis, verdict, content, copies: null, withheld: null };
  const prepared = prepareCopies(analyse, message, analysis, context, verdict.action);
  if (prepared.ok) return { analysis, verdict, content, copies: prepared.copies, withheld: null };
  return {
    analysis,
    content,
    // The reason stays the policy's; why the copy was not sent travels in `withheld`.
    verdict: { ...verdict, action: 'quarantine' },
    copies: null,
    withheld: { form: prepared.form, reason: prepared.reason },
  };
}
