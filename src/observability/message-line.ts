import type { MessageResult, ReceivedMessage } from '../actions/process-message.js';
import type { UpstreamError } from '../upstream/upstream-error.js';
import type { Logger } from './logger.js';
import { parseUpstreamResponse } from '../upstream/reply-for-upstream-error.js';
import { maskAddressesIn, type AddressMasker } from './mask.js';
import { contentForRecord } from '../actions/build-record.js';
import type { ContentReport } from '../analysis/content/content-report.js';

const round = (ms: number) => Math.round(ms * 100) / 100;
/** A split to 1000 members must not make a 100 KB log line: this many copies are listed, then a count. */
const COPIES_LISTED = 50;

/** The one structured line per message outcome; its id is the one in the SMTP reply. */
export function logMessageOutcome(logger: Logger, mask: AddressMasker, received: ReceivedMessage, result: MessageResult, receiveMs: number): void {
  const deferred = result.reply.code >= 400 && result.action === 'tempfail';
  // Building the line costs more than the rest of a clean relay's bookkeeping: skip it when it would be dropped.
  if (!logger.isLevelEnabled(deferred ? 'warn' : 'info')) return;
  const { analysis, verdict, outcome } = result;
  const exposure = analysis?.exposure;
  const line = {
    id: received.id,
    action: result.action,
    rule: verdict?.rule ?? null,
    violation: verdict?.violation ?? false,
    reason: verdict?.reason ?? null,
    client: received.context.clientAddress,
    mailFrom: mask(received.context.mailFrom),
    rcptCount: received.context.rcptTo.length,
    visible: exposure?.visible.length ?? null,
    visibleExternal: exposure?.visibleExternalCount ?? null,
    exposedExternal: exposure?.exposedExternal.length ?? null,
    exposingHeaders: exposure?.exposingHeaders ?? null,
    size: result.size,
    reply: `${result.reply.code} ${result.reply.enhanced}`,
    upstreamCode: outcome.kind === 'upstream-failed' ? (outcome.error.responseCode ?? null) : null,
    // Why the upstream failed, as an operator needs it: the stage, its kind, and its reply (addresses masked).
    upstream: outcome.kind === 'upstream-failed' ? upstreamFailure(outcome.error, mask) : undefined,
    upstreamReply: outcome.kind === 'relayed' ? maskAddressesIn(outcome.response, mask) : undefined,
    refused:
      'refused' in outcome && outcome.refused.length
        ? outcome.refused.slice(0, COPIES_LISTED).map((r) => ({ recipient: mask(r.recipient), code: r.code, response: maskAddressesIn(r.response, mask) }))
        : undefined,
    deferred:
      outcome.kind === 'partial' && outcome.deferred?.length
        ? outcome.deferred.slice(0, COPIES_LISTED).map((r) => ({ recipient: mask(r.recipient), code: r.code, response: maskAddressesIn(r.response, mask) }))
        : undefined,
    copies:
      outcome.kind === 'split-delivered' && outcome.acceptedReplies.length
        ? outcome.acceptedReplies.slice(0, COPIES_LISTED).map((c) => ({ recipient: mask(c.recipient), reply: maskAddressesIn(c.response, mask) }))
        : undefined,
    copiesNotListed:
      outcome.kind === 'split-delivered' && outcome.acceptedReplies.length > COPIES_LISTED ? outcome.acceptedReplies.length - COPIES_LISTED : undefined,
    dkimBroken: result.dkimBroken || undefined,
    // The DSN to the sender for copies refused after the 250: sent, or failed (the failed records remain).
    report: result.report,
    // Which check before sending stopped a rewritten copy (counts and header names, no addresses).
    withheld: result.withheld ? { form: result.withheld.form, reason: result.withheld.reason } : undefined,
    // Where the content scan found addresses (only when it ran): part:type:filename:count, masked as the record is.
    content: result.content?.scanned ? contentField(result.content, mask) : undefined,
    err: result.error,
    timings: { receiveMs: round(receiveMs), analyseMs: round(result.analyseMs), deliverMs: round(result.deliverMs) },
  };
  if (deferred) logger.warn(line, 'message deferred');
  else logger.info(line, 'message handled');
}

/** Places listed in the line; the record has them all. */
const PLACES_LISTED = 20;

function contentField(report: Extract<ContentReport, { scanned: true }>, mask: AddressMasker) {
  const { externalCount, locations, uninspected, bound } = contentForRecord(report, mask);
  return {
    externalCount,
    places: locations.slice(0, PLACES_LISTED).map((l) => `${l.part}:${l.contentType}:${l.filename ?? '-'}:${l.externalCount}`),
    uninspected: uninspected.length,
    bound: bound ? `${bound.kind}:${bound.limit}` : null,
  };
}

function upstreamFailure(error: UpstreamError, mask: AddressMasker) {
  const parsed = parseUpstreamResponse(error.response ?? '');
  return {
    stage: error.stage,
    kind: error.kind,
    code: error.responseCode ?? parsed.code ?? null,
    enhanced: parsed.enhanced ?? null,
    // No reply at all (refused connection, TLS, timeout): the client's own reason.
    text: maskAddressesIn(parsed.text || error.message, mask),
    possiblyDelivered: error.possiblyDelivered || undefined,
  };
}
