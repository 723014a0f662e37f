// Steps 1 and 2 of the pipeline and the check of every copy, in one pure
// function that the proxy and `mail-guard check` both call: the offline
// verdict and the wire verdict cannot differ, also when a split or bcc copy
// would still expose someone and the message is held instead.

import type { MessageAnalysis } from '../analysis/analyse.js';
import type { MessageBytes } from '../message/message-bytes.js';
import type { Decide } from '../policy/decide.js';
import type { TransactionContext, Verdict } from '../policy/verdict.js';
import { prepareCopies, type Analyse, type CopyForm, type OutgoingCopy } from './outgoing-copies.js';

export interface Judgement {
  readonly analysis: MessageAnalysis;
  readonly verdict: Verdict;
  /** For a bcc or split verdict: the checked copies to send. */
  readonly copies: readonly OutgoingCopy[] | null;
  /** A bcc or split copy failed its check: the verdict was turned into quarantine. */
  readonly withheld: { readonly form: CopyForm; readonly reason: string } | null;
}

export function judgeMessage(analyse: Analyse, decide: Decide, message: MessageBytes, context: TransactionContext): Judgement {
  const analysis = analyse(message, context);
  const verdict = decide(analysis, { context, headerFromDomain: analysis.headerFrom?.domain ?? null });
  if (verdict.action !== 'bcc' && verdict.action !== 'split') return { analysis, verdict, copies: null, withheld: null };
  const prepared = prepareCopies(analyse, message, analysis, context, verdict.action);
  if (prepared.ok) return { analysis, verdict, copies: prepared.copies, withheld: null };
  return {
    analysis,
    // The reason stays the policy's; why the copy was not sent travels in `withheld`.
    verdict: { ...verdict, action: 'quarantine' },
    copies: null,
    withheld: { form: prepared.form, reason: prepared.reason },
  };
}
