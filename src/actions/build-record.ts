import { createHash } from 'node:crypto';
import type { MessageAnalysis } from '../analysis/analyse.js';
import { messageChunks, type MessageBytes } from '../message/message-bytes.js';
import type { TransactionContext, Verdict } from '../policy/verdict.js';
import { esmtpForRecord } from './stored-esmtp.js';
import { historyEntry, type AddressMasker, type MessageRecord, type RecordStatus } from '../store/record.js';

export interface RecordInput {
  readonly id: string;
  readonly status: Extract<RecordStatus, 'held' | 'captured' | 'failed' | 'delayed'>;
  /** For status delayed. */
  readonly releaseAt?: string;
  readonly receivedAt: number;
  readonly message: MessageBytes;
  readonly context: TransactionContext;
  readonly analysis: MessageAnalysis | null;
  readonly verdict: Verdict | null;
  readonly mask: AddressMasker;
  readonly failure?: { readonly recipient: string; readonly code: number; readonly response: string };
  readonly note?: string;
}

/** A store record (DESIGN.md "Store records") for a message the proxy keeps, with the bytes to keep. */
export function buildRecord(input: RecordInput): { record: MessageRecord; raw: Buffer[] } {
  const { analysis, verdict, context } = input;
  const raw = messageChunks(input.message);
  const sha256 = createHash('sha256');
  for (const chunk of raw) sha256.update(chunk);
  const at = new Date(input.receivedAt).toISOString();
  const exposure = analysis?.exposure;
  const esmtp = esmtpForRecord(context.esmtp);
  const record: MessageRecord = {
    id: input.id,
    receivedAt: at,
    status: input.status,
    envelope: { mailFrom: context.mailFrom, rcptTo: [...context.rcptTo] },
    client: { address: context.clientAddress, authUser: context.authUser ?? null },
    from: analysis?.headerFrom?.address ?? null,
    subject: analysis?.subject ?? null,
    messageId: analysis?.messageId ?? null,
    size: input.message.size,
    sha256: sha256.digest('hex'),
    analysis: exposure
      ? {
          visibleCount: exposure.visible.length,
          visibleExternalCount: exposure.visibleExternalCount,
          exposedExternalCount: exposure.exposedExternal.length,
          exposedExternalDomainCount: exposure.exposedExternalDomainCount,
          exposingHeaders: exposure.exposingHeaders,
          truncated: exposure.truncated,
          exposedExternal: exposure.exposedExternal.map(input.mask),
        }
      : null,
    verdict: verdict && { rule: verdict.rule, action: verdict.action, violation: verdict.violation, reason: verdict.reason },
    ...(input.releaseAt !== undefined ? { releaseAt: input.releaseAt } : {}),
    ...(esmtp ? { esmtp } : {}),
    ...(input.failure ? { failure: input.failure } : {}),
    history: [historyEntry('mail-guard', input.status, input.note ?? null, undefined, new Date(input.receivedAt))],
  };
  return { record, raw };
}
