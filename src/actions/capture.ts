import { createHash } from 'node:crypto';
import type { MessageAnalysis } from '../analysis/analyse.js';
import type { AddressMasker } from '../log/mask.js';
import { messageChunks, type MessageBytes } from '../message/message-bytes.js';
import type { TransactionContext, Verdict } from '../policy/verdict.js';
import { writeRecordDirectory } from '../store/durable-write.js';

export type RecordStatus = 'held' | 'captured' | 'failed';

/**
 * Keeps a message durably with its verdict (rehearsal mode's "captured"). The
 * record carries the fields of DESIGN.md "Store records" so the review store
 * can read it as it is.
 */
export async function keepRecord(
  storePath: string,
  record: {
    id: string;
    status: RecordStatus;
    receivedAt: number;
    message: MessageBytes;
    context: TransactionContext;
    analysis: MessageAnalysis | null;
    verdict: Verdict | null;
    mask: AddressMasker;
  },
): Promise<void> {
  const { analysis, verdict, context } = record;
  const chunks = messageChunks(record.message);
  const sha256 = createHash('sha256');
  for (const chunk of chunks) sha256.update(chunk);
  const meta = {
    id: record.id,
    receivedAt: new Date(record.receivedAt).toISOString(),
    status: record.status,
    envelope: { mailFrom: context.mailFrom, rcptTo: context.rcptTo },
    client: { address: context.clientAddress, authUser: context.authUser ?? null },
    from: analysis?.headerFrom?.address ?? null,
    subject: analysis?.subject ?? null,
    messageId: analysis?.messageId ?? null,
    size: record.message.size,
    sha256: sha256.digest('hex'),
    analysis: analysis && {
      visibleCount: analysis.exposure.visible.length,
      visibleExternalCount: analysis.exposure.visibleExternalCount,
      exposedExternalCount: analysis.exposure.exposedExternal.length,
      exposedExternalDomainCount: analysis.exposure.exposedExternalDomainCount,
      exposingHeaders: analysis.exposure.exposingHeaders,
      truncated: analysis.exposure.truncated,
      exposedExternal: analysis.exposure.exposedExternal.map(record.mask),
    },
    verdict: verdict && { rule: verdict.rule, action: verdict.action, violation: verdict.violation, reason: verdict.reason },
    history: [{ at: new Date(record.receivedAt).toISOString(), actor: 'mail-guard', action: record.status, note: null }],
  };
  await writeRecordDirectory(storePath, record.id, {
    'message.eml': chunks,
    'record.json': JSON.stringify(meta, null, 2),
  });
}
