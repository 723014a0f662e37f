import { createHash } from 'node:crypto';
import type { MessageAnalysis } from '../analysis/analyse.js';
import type { ContentReport } from '../analysis/content/content-report.js';
import { messageChunks, type MessageBytes } from '../message/message-bytes.js';
import type { TransactionContext, Verdict } from '../policy/verdict.js';
import { esmtpForRecord } from './stored-esmtp.js';
import { historyEntry, type AddressMasker, type MessageRecord, type RecordContent, type RecordStatus } from '../store/record.js';

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
  /** What the content scan found; null or absent when it did not run (then the record has no content). */
  readonly content?: ContentReport | null;
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
          ...(input.content?.scanned ? { content: contentForRecord(input.content, input.mask) } : {}),
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

// The same address-shaped pattern the log masks in free text: a filename is the sender's text too.
const ADDRESS_IN_NAME = /[^\s<>"'(),;:[\]]+[@\uff20][^\s<>"'(),;:[\]]+/g;
const maskedName = (name: string | null, mask: AddressMasker): string | null =>
  name === null ? null : name.replace(ADDRESS_IN_NAME, (address) => mask(address.replace('\uff20', '@')));

/** The scan's facts as the store keeps them: addresses and filenames masked like the rest of the record. */
export function contentForRecord(report: Extract<ContentReport, { scanned: true }>, mask: AddressMasker): RecordContent {
  return {
    externalCount: report.externalCount,
    locations: report.locations.map((l) => ({
      part: l.part,
      contentType: l.contentType,
      filename: maskedName(l.filename, mask),
      carrier: l.carrier,
      externalCount: l.externalCount,
      addresses: l.addresses.map(mask),
    })),
    uninspected: report.uninspected.map((u) => ({ part: u.part, contentType: u.contentType, filename: maskedName(u.filename, mask), why: u.why })),
    bound: report.bound && { kind: report.bound.kind, limit: report.bound.limit },
  };
}
