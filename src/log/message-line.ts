import type { MessageResult, ReceivedMessage } from '../actions/process-message.js';
import type { Logger } from './logger.js';
import type { AddressMasker } from './mask.js';

const round = (ms: number) => Math.round(ms * 100) / 100;

/** The one structured line per message outcome; its id is the one in the SMTP reply. */
export function logMessageOutcome(
  logger: Logger,
  mask: AddressMasker,
  received: ReceivedMessage,
  result: MessageResult,
  receiveMs: number,
): void {
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
    // Why no TLS session to the upstream came about (certificate not trusted, name, pin):
    // written by mail-guard at the connect stage, so it holds host names, never addresses.
    upstreamReason:
      outcome.kind === 'upstream-failed' && outcome.error.stage === 'connect' && (outcome.error.kind === 'tls' || outcome.error.kind === 'tls-pin') ? outcome.error.message : undefined,
    refused:
      'refused' in outcome && outcome.refused.length
        ? outcome.refused.map((r) => ({ recipient: mask(r.recipient), code: r.code, response: r.response }))
        : undefined,
    dkimBroken: result.dkimBroken || undefined,
    // Which check before sending stopped a rewritten copy (counts and header names, no addresses).
    withheld: result.withheld ? { form: result.withheld.form, reason: result.withheld.reason } : undefined,
    err: result.error,
    timings: { receiveMs: round(receiveMs), analyseMs: round(result.analyseMs), deliverMs: round(result.deliverMs) },
  };
  if (deferred) logger.warn(line, 'message deferred');
  else logger.info(line, 'message handled');
}
