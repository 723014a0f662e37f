import type { MessageAnalysis } from '../analysis/analyse.js';
import type { ContentReport } from '../analysis/content/content-report.js';
import type { ContentScan } from '../analysis/content/content-scan.js';
import { assembleMessage, type MessageBytes } from '../message/message-bytes.js';
import type { Decide } from '../policy/decide.js';
import type { TransactionContext, Verdict } from '../policy/verdict.js';
import type { SmtpReply } from '../reply/replies.js';
import { StoreUnavailableError, type MessageStore } from '../store/message-store.js';
import type { AddressMasker } from '../store/record.js';
import { buildRecord } from './build-record.js';
import { buildDeliveryReport, type NoticeLanguage } from './delivery-report.js';
import { keepRefusedCopies } from './keep-refused.js';
import type { DeliveryLedger } from '../store/message-store.js';
import { replyForOutcome, type Outcome } from './outcome.js';
import { judgeMessage } from './judge-message.js';
import { asDecided, type Analyse, type CopyForm } from './outgoing-copies.js';
import { deliver } from './deliver.js';
import type { Relay } from './relay.js';
import { rewriteBreaksDkim } from './rewrite-recipients.js';
import type { BreakerGate, OpenBreaker } from './breaker-gate.js';
import { campaignKey } from './campaign-key.js';
import { NO_EVENTS, type GuardEvents } from './guard-events.js';
import type { NoticeCause, SenderNotices } from './sender-notices.js';

export interface ReceivedMessage {
  readonly id: string;
  readonly receivedAt: number;
  /** As the mailer sent it, dot-unstuffed, in the chunks it arrived in; line endings are normalised here. */
  readonly chunks: readonly Buffer[];
  readonly context: TransactionContext;
}

/** What happened to a message: the label values of mailguard_messages_total{action}. */
export const OUTCOME_ACTIONS = ['pass', 'monitor', 'bcc', 'split', 'quarantine', 'reject', 'capture', 'tempfail', 'delay'] as const;
export type OutcomeAction = (typeof OUTCOME_ACTIONS)[number];

export interface MessageResult {
  readonly reply: SmtpReply;
  readonly action: OutcomeAction;
  readonly outcome: Outcome;
  readonly analysis: MessageAnalysis | null;
  readonly verdict: Verdict | null;
  /** What the content scan found; null when it did not run. */
  readonly content: ContentReport | null;
  /** Analysis, content scan and decision. */
  readonly analyseMs: number;
  readonly deliverMs: number;
  readonly dkimBroken: boolean;
  /** Bytes after line-ending normalisation. */
  readonly size: number;
  /** Whether the delivery status notification for copies refused after the 250 went out. */
  readonly report?: 'sent' | 'failed';
  /** Set when a bcc or split copy failed the check before sending and the message was held instead. */
  readonly withheld?: { readonly form: CopyForm; readonly reason: string };
  /** What went wrong inside, for the log line only. */
  readonly error?: unknown;
}

export interface ProcessDeps {
  /** The proxy's analyser; it also checks every bcc and split copy before it leaves. */
  readonly analyse: Analyse;
  readonly decide: Decide;
  /** The content scan (createJudge); null or absent when no content threshold is configured. */
  readonly scanContent?: ContentScan | null;
  /** null: rehearsal mode, nothing leaves the machine. */
  readonly relay: Relay | null;
  readonly ledger: DeliveryLedger;
  readonly splitConcurrency: number;
  readonly store: MessageStore;
  readonly mask: AddressMasker;
  readonly maxHeaderBytes: number;
  /** Who reports refused copies to their sender, and in which language. */
  readonly notice: { readonly language: NoticeLanguage; readonly reportingMta: string; readonly remoteMta: string | null };
  /** policy.breaker; null when not configured (then the clean path asks nothing more of the store). */
  readonly breaker?: BreakerGate | null;
  /** Webhooks to the people on duty. */
  readonly events?: GuardEvents;
  /** The notice to the sender of held or rejected mail; null when notify.sender is off. */
  readonly senderNotices?: SenderNotices | null;
}

/**
 * analyse -> decide -> execute for one message. Pure stages first, I/O last; any
 * surprise becomes 451 4.3.0, never 250. `signal` is the mailer's transaction:
 * once it fires (deadline, mailer gone, answered 4xx) nothing more goes upstream.
 */
export async function processMessage(deps: ProcessDeps, received: ReceivedMessage, signal?: AbortSignal): Promise<MessageResult> {
  const started = performance.now();
  // Analyse exactly the bytes that will be forwarded.
  const message: MessageBytes = assembleMessage(received.chunks, deps.maxHeaderBytes);
  const { context } = received;
  const judgement = judgeMessage(deps.analyse, deps.decide, message, context, deps.scanContent ?? null);
  const analyseMs = performance.now() - started;
  let judged = judgement;
  const finish = (outcome: Outcome, action: OutcomeAction, dkimBroken = false): MessageResult => ({
    reply: replyForOutcome(outcome, received.id),
    action,
    outcome,
    analysis: judged.analysis,
    verdict: judged.verdict,
    content: judgement.content,
    analyseMs,
    deliverMs: performance.now() - started - analyseMs,
    dkimBroken,
    size: message.size,
  });
  let paused: { breaker: OpenBreaker; action: 'quarantine' | 'tempfail' } | null;
  try {
    paused = await breakerCheck(deps.breaker ?? null, context.mailFrom, judgement.verdict, received.receivedAt);
  } catch (err) {
    // Fail closed: whether the sender is paused is unknown.
    return { ...finish({ kind: 'store-failed' }, 'tempfail'), error: err };
  }
  if (paused) judged = pausedJudgement(judgement, paused.breaker);
  const { analysis, verdict } = judged;
  const events = deps.events ?? NO_EVENTS;
  // Only held, rejected and paused mail needs its campaign: the clean path does not hash anything more.
  const campaign = () => campaignKey({ envelope: context, subject: analysis.subject });
  const tellSender = (what: NoticeCause['what']) =>
    deps.senderNotices?.consider({
      id: received.id,
      receivedAt: received.receivedAt,
      context,
      campaign: campaign(),
      subject: analysis.subject,
      what,
      exposedExternalCount: analysis.exposure.exposedExternal.length,
      exposingHeaders: analysis.exposure.exposingHeaders,
      content: verdict.content,
      head: message.head,
    });

  const recordBase = { receivedAt: received.receivedAt, context, analysis, verdict, content: judgement.content, mask: deps.mask };
  // Rehearsal mode keeps everything; quarantine keeps what it holds; a delay keeps what will leave. 250 only once the store has it durably.
  const keep = async (status: 'captured' | 'held' | 'delayed', kept: Outcome, action: OutcomeAction, releaseAt?: string): Promise<MessageResult> => {
    try {
      const note = judged.withheld
        ? `held instead of sent as ${judged.withheld.form}: ${judged.withheld.reason}`
        : releaseAt !== undefined
          ? `leaves at ${releaseAt} as ${verdict.action}`
          : paused && status === 'held'
            ? verdict.reason
            : undefined;
      const { record, raw } = buildRecord({
        ...recordBase,
        id: received.id,
        status,
        message,
        ...(note ? { note } : {}),
        ...(releaseAt !== undefined ? { releaseAt } : {}),
      });
      await deps.store.put(record, raw);
    } catch (err) {
      return { ...finish({ kind: 'store-failed' }, 'tempfail'), error: err };
    }
    if (status === 'held') {
      events.emit({
        kind: 'held',
        at: new Date(received.receivedAt).toISOString(),
        id: received.id,
        campaign: campaign(),
        sender: context.mailFrom,
        subject: analysis.subject,
        rule: verdict.rule,
        reason: verdict.reason,
        exposedExternalCount: analysis.exposure.exposedExternal.length,
        exposingHeaders: analysis.exposure.exposingHeaders,
        ...(verdict.content ? { contentExternalCount: verdict.content.externalCount } : {}),
        cause: paused ? 'breaker' : judged.withheld ? 'withheld' : 'policy',
      });
      tellSender(paused ? 'paused' : 'held');
    }
    return finish(kept, action);
  };
  // A bcc or split copy that would still expose someone is not sent: the log and metrics say so.
  const withWithheld = (result: MessageResult): MessageResult => (judged.withheld ? { ...result, withheld: judged.withheld } : result);
  if (deps.relay === null) return withWithheld(await keep('captured', { kind: 'captured' }, 'capture'));
  if (paused?.action === 'tempfail') {
    tellSender('paused');
    return finish({ kind: 'paused' }, 'tempfail');
  }

  const relayDeps = { relay: deps.relay, ledger: deps.ledger, splitConcurrency: deps.splitConcurrency, signal };
  const keepDeps = { store: deps.store, ledger: deps.ledger };
  switch (verdict.action) {
    case 'reject':
      tellSender('rejected');
      return finish({ kind: 'refused', reply: verdict.rejectReply! }, 'reject');
    case 'quarantine':
      return withWithheld(await keep('held', { kind: 'held' }, 'quarantine'));
    case 'pass':
    case 'monitor':
    case 'bcc':
    case 'split': {
      const action = verdict.action;
      if (verdict.delaySeconds) {
        // Whole seconds: the reply and the record name the same instant.
        const releaseAt = new Date(Math.ceil((received.receivedAt + verdict.delaySeconds * 1000) / 1000) * 1000).toISOString();
        return keep('delayed', { kind: 'delayed', releaseAt }, 'delay', releaseAt);
      }
      // bcc and split send only the copies judgeMessage checked; pass and monitor the message as decided.
      const copies = action === 'pass' || action === 'monitor' ? [asDecided(message, context, action)] : judged.copies!;
      let relayed: Awaited<ReturnType<typeof deliver>>;
      try {
        relayed = await deliver(relayDeps, action === 'split' ? 'split' : 'whole', copies, message);
      } catch (err) {
        // The delivery ledger (store.type redis: a failover) could not be read or written: the store's 451, not "could not be checked".
        if (err instanceof StoreUnavailableError) return { ...finish({ kind: 'store-failed' }, 'tempfail'), error: err };
        throw err;
      }
      // Refused copies are rare: the clean path skips the extra awaits.
      const anyRefused = 'refused' in relayed && relayed.refused.length > 0;
      const outcome = anyRefused ? await keepRefusedCopies(keepDeps, relayed, recordBase, { original: message, copies }) : relayed;
      const rewritten = action === 'bcc' || action === 'split';
      const result = finish(outcome, deliveredAs(outcome, action), rewritten && rewriteBreaksDkim(analysis.header));
      const report = anyRefused ? await reportRefusedCopies(deps, received, message, outcome, signal) : null;
      return report ? { ...result, report } : result;
    }
  }
}

/**
 * The breaker (policy.breaker): an open one pauses the sender whatever the
 * verdict; otherwise a violation is counted, and the violation that opens it
 * is still decided by its own rule (the next message is the first one paused).
 * The null sender is never paused: bounces must keep flowing.
 */
async function breakerCheck(
  gate: BreakerGate | null,
  sender: string,
  verdict: Verdict,
  receivedAt: number,
): Promise<{ breaker: OpenBreaker; action: 'quarantine' | 'tempfail' } | null> {
  if (gate === null || sender === '') return null;
  const open = await gate.openFor(sender);
  if (open) return { breaker: open, action: gate.action };
  if (verdict.violation) await gate.recordViolation(sender, new Date(receivedAt));
  return null;
}

/** A paused sender's message is held (or answered 451) under the verdict "breaker", whatever its own verdict was. */
function pausedJudgement<J extends { readonly verdict: Verdict; readonly copies: unknown; readonly withheld: unknown }>(judged: J, breaker: OpenBreaker): J {
  const own = judged.verdict;
  const reason =
    `sender paused: its breaker opened at ${breaker.openedAt} after ${breaker.violations} violations within ${breaker.windowSeconds} s; ` +
    `this message's own verdict: ${own.action} by rule ${own.rule} (${own.reason})`;
  return { ...judged, verdict: { action: 'quarantine', rule: 'breaker', violation: own.violation, reason }, copies: null, withheld: null };
}

/**
 * One delivery status notification to the envelope sender for the copies the
 * upstream refused after the mailer was told 250 (kept as `failed` records).
 * Not for the null sender (a report about a report loops). Its failure does not
 * change the mailer's answer: the failed records are the safety net.
 */
async function reportRefusedCopies(
  deps: ProcessDeps,
  received: ReceivedMessage,
  message: MessageBytes,
  outcome: Outcome,
  signal: AbortSignal | undefined,
): Promise<'sent' | 'failed' | null> {
  if (outcome.kind !== 'relayed' && outcome.kind !== 'split-delivered') return null;
  if (received.context.mailFrom === '' || deps.relay === null) return null;
  // RFC 3461: NOTIFY=NEVER, or a NOTIFY without FAILURE, asks for no failure report.
  const esmtp = received.context.esmtp;
  const wanted = outcome.refused.filter((r) => {
    const notify = esmtp?.recipients.get(r.recipient)?.notify;
    return notify === undefined || notify.includes('FAILURE');
  });
  if (wanted.length === 0) return null;
  const report = buildDeliveryReport({
    id: received.id,
    reportingMta: deps.notice.reportingMta,
    remoteMta: deps.notice.remoteMta,
    arrivalDate: new Date(received.receivedAt),
    sender: received.context.mailFrom,
    refused: wanted.map((r) => ({ ...r, orcpt: esmtp?.recipients.get(r.recipient)?.orcpt })),
    envid: esmtp?.envid,
    originalHeader: message.head,
    language: deps.notice.language,
  });
  try {
    // Part of the transaction too: if the mailer was told to retry, the retry reports the refusals.
    await deps.relay.send({ mailFrom: '', rcptTo: [received.context.mailFrom], size: report.length }, [report], signal);
    return 'sent';
  } catch {
    return 'failed';
  }
}

/** The metric label: the action when the message went out, else how it failed. */
function deliveredAs(outcome: Outcome, action: 'pass' | 'monitor' | 'bcc' | 'split'): OutcomeAction {
  if (outcome.kind === 'relayed' || outcome.kind === 'split-delivered' || outcome.kind === 'already-delivered') return action;
  if ((outcome.kind === 'upstream-failed' && outcome.error.kind === 'permanent') || outcome.kind === 'all-refused') return 'reject';
  return 'tempfail';
}
