import type { MessageAnalysis } from '../analysis/analyse.js';
import type { AddressMasker } from '../log/mask.js';
import { assembleMessage, messageChunks, withHead, type MessageBytes } from '../message/message-bytes.js';
import type { Decide } from '../policy/decide.js';
import type { TransactionContext, Verdict } from '../policy/verdict.js';
import { replies, SmtpReplyError, type SmtpReply } from '../smtp/replies.js';
import type { MessageStore } from '../store/message-store.js';
import { buildRecord } from './build-record.js';
import { keepRefusedCopies } from './keep-refused.js';
import type { DeliveryLedger } from './delivery-ledger.js';
import { replyForOutcome, type Outcome } from './outcome.js';
import { relayWhole, type Relay } from './relay.js';
import { rewriteBreaksDkim, rewriteVisibleRecipients } from './rewrite-recipients.js';
import { relaySplit } from './split.js';

export interface ReceivedMessage {
  readonly id: string;
  readonly receivedAt: number;
  /** As the mailer sent it, dot-unstuffed, in the chunks it arrived in; line endings are normalised here. */
  readonly chunks: readonly Buffer[];
  readonly context: TransactionContext;
}

/** Label values of mailguard_messages_total{action}. */
export type OutcomeAction = 'pass' | 'monitor' | 'bcc' | 'split' | 'quarantine' | 'reject' | 'capture' | 'tempfail';

export interface MessageResult {
  readonly reply: SmtpReply;
  readonly action: OutcomeAction;
  readonly outcome: Outcome;
  readonly analysis: MessageAnalysis | null;
  readonly verdict: Verdict | null;
  readonly analyseMs: number;
  readonly deliverMs: number;
  readonly dkimBroken: boolean;
  /** Bytes after line-ending normalisation. */
  readonly size: number;
  /** What went wrong inside, for the log line only. */
  readonly error?: unknown;
}

export interface ProcessDeps {
  /** Takes a buffer that holds at least the whole header block. */
  readonly analyse: (message: Buffer, envelope: { mailFrom: string; rcptTo: readonly string[] }) => MessageAnalysis;
  readonly decide: Decide;
  /** null: rehearsal mode, nothing leaves the machine. */
  readonly relay: Relay | null;
  readonly ledger: DeliveryLedger;
  readonly splitConcurrency: number;
  readonly store: MessageStore;
  readonly mask: AddressMasker;
  readonly maxHeaderBytes: number;
}

/**
 * analyse -> decide -> execute for one message. Pure stages first, I/O last; any
 * surprise becomes 451 4.3.0, never 250.
 */
export async function processMessage(deps: ProcessDeps, received: ReceivedMessage): Promise<MessageResult> {
  const started = performance.now();
  let analysis: MessageAnalysis | null = null;
  let verdict: Verdict | null = null;
  let analyseMs = 0;
  const finish = (outcome: Outcome, action: OutcomeAction, dkimBroken = false): MessageResult => ({
    reply: replyForOutcome(outcome, received.id),
    action,
    outcome,
    analysis,
    verdict,
    analyseMs,
    deliverMs: performance.now() - started - analyseMs,
    dkimBroken,
    size: message.size,
  });

  // Analyse exactly the bytes that will be forwarded.
  const message: MessageBytes = assembleMessage(received.chunks, deps.maxHeaderBytes);
  const { context } = received;
  // A NUL is a line-ending to no one but "\r\n\0.\r\n" is an end of DATA to a
  // receiver that drops NULs first: refused, so nothing can be smuggled past us.
  if (messageChunks(message).some((chunk) => chunk.includes(0))) {
    analyseMs = performance.now() - started;
    return finish({ kind: 'refused', reply: replies.nulByte() }, 'reject');
  }
  try {
    analysis = deps.analyse(message.head, context);
    verdict = deps.decide(analysis.exposure, { context, headerFromDomain: analysis.headerFrom?.domain ?? null });
  } catch (err) {
    analyseMs = performance.now() - started;
    if (err instanceof SmtpReplyError) return finish({ kind: 'refused', reply: err.reply }, 'reject');
    throw err;
  }
  analyseMs = performance.now() - started;

  const recordBase = { receivedAt: received.receivedAt, context, analysis, verdict, mask: deps.mask };
  // Rehearsal mode keeps everything; quarantine keeps what it holds. 250 only once the store has it durably.
  const keep = async (status: 'captured' | 'held', kept: Outcome, action: OutcomeAction): Promise<MessageResult> => {
    try {
      const { record, raw } = buildRecord({ ...recordBase, id: received.id, status, message });
      await deps.store.put(record, raw);
    } catch (err) {
      return { ...finish({ kind: 'store-failed' }, 'tempfail'), error: err };
    }
    return finish(kept, action);
  };
  if (deps.relay === null) return keep('captured', { kind: 'captured' }, 'capture');

  const relayDeps = { relay: deps.relay, ledger: deps.ledger };
  const keepDeps = { store: deps.store, ledger: deps.ledger };
  switch (verdict.action) {
    case 'reject':
      return finish({ kind: 'refused', reply: verdict.rejectReply! }, 'reject');
    case 'quarantine':
      return keep('held', { kind: 'held' }, 'quarantine');
    case 'pass':
    case 'monitor': {
      const relayed = await relayWhole(relayDeps, context, message, message);
      const outcome = await keepRefusedCopies(keepDeps, relayed, recordBase, { original: message, message, splitHeader: null });
      return finish(outcome, deliveredAs(outcome, verdict.action));
    }
    case 'bcc': {
      const rewritten = withHead(message, rewriteVisibleRecipients(message.head, analysis.header, 'undisclosed-recipients:;'));
      const relayed = await relayWhole(relayDeps, context, message, rewritten);
      const outcome = await keepRefusedCopies(keepDeps, relayed, recordBase, { original: message, message: rewritten, splitHeader: null });
      return finish(outcome, deliveredAs(outcome, 'bcc'), rewriteBreaksDkim(analysis.header));
    }
    case 'split': {
      const relayed = await relaySplit({ ...relayDeps, concurrency: deps.splitConcurrency }, context, message, analysis.header);
      const outcome = await keepRefusedCopies(keepDeps, relayed, recordBase, { original: message, message, splitHeader: analysis.header });
      return finish(outcome, deliveredAs(outcome, 'split'), rewriteBreaksDkim(analysis.header));
    }
  }
}

/** The metric label: the action when the message went out, else how it failed. */
function deliveredAs(outcome: Outcome, action: 'pass' | 'monitor' | 'bcc' | 'split'): OutcomeAction {
  if (outcome.kind === 'relayed' || outcome.kind === 'split-delivered' || outcome.kind === 'already-delivered') return action;
  if (outcome.kind === 'upstream-failed' && outcome.error.kind === 'permanent') return 'reject';
  return 'tempfail';
}
