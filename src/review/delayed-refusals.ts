import type { RefusedCopy } from '../actions/outcome.js';
import { buildDeliveryReport, type NoticeLanguage } from '../actions/delivery-report.js';
import type { Relay } from '../actions/relay.js';
import { assembleMessage } from '../message/message-bytes.js';
import { newMessageId } from '../message/message-id.js';
import type { MessageStore } from '../store/message-store.js';
import { historyEntry, type MessageRecord } from '../store/record.js';

// A delayed message was answered 250 long before it left, so what the upstream
// refuses then is ours to report (RFC 5321 §6.1), as the proxy does for copies
// refused on the spot (actions/process-message.ts, keep-refused.ts): each
// refused recipient is kept as a `failed` record a person can resend or
// discard, and the envelope sender gets one delivery status notification.

export interface ReportDeps {
  readonly store: MessageStore;
  readonly relay: Relay;
  readonly maxHeaderBytes: number;
  readonly notice: { readonly language: NoticeLanguage; readonly reportingMta: string; readonly remoteMta: string | null };
}

/**
 * Some recipients refused for good while others were accepted (the record is
 * released): one `failed` record per refused recipient, holding the stored
 * message and that recipient alone (a person releases it as they see fit),
 * then the report. A copy that could not be kept is logged; the released
 * record's history already says how many were refused.
 */
export async function keepRefusedDelayed(
  deps: ReportDeps,
  record: MessageRecord,
  refused: readonly RefusedCopy[],
  logger: { error(obj: object, msg: string): void },
): Promise<{ kept: number; report: 'sent' | 'failed' | 'not-wanted' }> {
  let kept = 0;
  const raw = await deps.store.raw(record.id).catch(() => null);
  for (const copy of refused) {
    if (raw === null) break;
    const { releaseAt: _releaseAt, ...rest } = record;
    void _releaseAt;
    const failed: MessageRecord = {
      ...rest,
      id: newMessageId(),
      status: 'failed',
      envelope: { mailFrom: record.envelope.mailFrom, rcptTo: [copy.recipient] },
      failure: copy,
      history: [historyEntry('mail-guard', 'failed', `refused by the upstream when ${record.id} left after its delay: ${copy.code} ${copy.response}`)],
    };
    try {
      await deps.store.put(failed, [raw]);
      kept++;
    } catch (err) {
      logger.error({ event: 'delayed_departure', id: record.id, err }, 'a refused copy of a delayed message could not be kept as a failed record');
    }
  }
  if (raw === null) logger.error({ event: 'delayed_departure', id: record.id }, 'refused copies not kept: the stored message is missing');
  return { kept, report: await reportRefused(deps, record, refused) };
}

/**
 * One delivery status notification to the envelope sender for the refused
 * recipients; not for the null sender (a report about a report loops), nor for
 * recipients whose NOTIFY asked for no failure report (RFC 3461).
 */
export async function reportRefused(deps: ReportDeps, record: MessageRecord, refused: readonly RefusedCopy[]): Promise<'sent' | 'failed' | 'not-wanted'> {
  const sender = record.envelope.mailFrom;
  const params = new Map(record.esmtp?.recipients ?? []);
  const wanted = refused.filter((r) => {
    const notify = params.get(r.recipient)?.notify;
    return notify === undefined || notify.includes('FAILURE');
  });
  if (sender === '' || wanted.length === 0) return 'not-wanted';
  try {
    const raw = await deps.store.raw(record.id);
    const head = raw ? assembleMessage([raw], deps.maxHeaderBytes).head : Buffer.from('\r\n');
    const report = buildDeliveryReport({
      id: record.id,
      reportingMta: deps.notice.reportingMta,
      remoteMta: deps.notice.remoteMta,
      arrivalDate: new Date(record.receivedAt),
      sender,
      refused: wanted.map((r) => ({ ...r, orcpt: params.get(r.recipient)?.orcpt })),
      envid: record.esmtp?.envid,
      originalHeader: head,
      language: deps.notice.language,
    });
    await deps.relay.send({ mailFrom: '', rcptTo: [sender], size: report.length }, [report]);
    return 'sent';
  } catch {
    // The failed record is the safety net: a person sees it.
    return 'failed';
  }
}
