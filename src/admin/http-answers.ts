import type { FastifyReply } from 'fastify';
import { ReviewRefusedError, type Refusal } from '../review/lifecycle.js';
import { AuditUnwrittenError } from '../review/audit.js';
import { AuditLogCorruptError } from '../store/audit-chain.js';
import { StoreConflictError, StoreUnavailableError } from '../store/message-store.js';

/** An answer the API gives on purpose: status plus a message a person can act on. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly statusCode: number,
    message: string,
    /** More JSON fields next to `error` (e.g. the upstream's reply). */
    readonly extra: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

export interface ErrorAnswer {
  readonly status: number;
  readonly body: { readonly error: string } & Readonly<Record<string, unknown>>;
  /** Not an answer given on purpose: the log gets the error. */
  readonly unexpected: boolean;
}

/**
 * Every failure → status and `{ "error": … }`. The one table for the error
 * handler and for the per-record results of campaign actions, so a record
 * inside a bulk action fails exactly as it would alone. Messages never quote
 * another record or internal paths.
 */
export function answerForError(err: unknown): ErrorAnswer {
  if (err instanceof HttpError) return { status: err.statusCode, body: { ...err.extra, error: err.message }, unexpected: false };
  if (err instanceof ReviewRefusedError) return answerForRefusal(err.refusal);
  if (err instanceof StoreConflictError) {
    return err.current === null
      ? { status: 404, body: { error: 'no message with this id' }, unexpected: false }
      : { status: 409, body: { error: `the message is ${err.current}; this action is not possible from that status`, status: err.current }, unexpected: false };
  }
  // Done, but not in the audit log: say what was done rather than invite a retry. Logged.
  if (err instanceof AuditUnwrittenError) return { status: 503, body: { error: err.message }, unexpected: true };
  if (err instanceof AuditLogCorruptError) return { status: 500, body: { error: err.message }, unexpected: true };
  if (err instanceof StoreUnavailableError) {
    return { status: 503, body: { error: 'the message store is not reachable; try again shortly' }, unexpected: false };
  }
  // Fastify's own refusals (bad JSON, body too large, …) carry a 4xx statusCode and a readable message.
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, body: { error: err instanceof Error ? err.message : 'bad request' }, unexpected: false };
  }
  return { status: 500, body: { error: 'internal error; the mail-guard log has the details' }, unexpected: true };
}

/** The review lifecycle's refusals as HTTP: the one place a Refusal kind becomes a status. */
export function answerForRefusal(refusal: Refusal): ErrorAnswer {
  const answer = (status: number, extra: Readonly<Record<string, unknown>> = {}): ErrorAnswer => ({
    status,
    body: { ...extra, error: refusal.message },
    unexpected: false,
  });
  switch (refusal.kind) {
    case 'not-found':
      return answer(404);
    case 'wrong-status':
      return answer(409, { status: refusal.status });
    case 'not-permitted':
      return answer(403);
    case 'upstream-failed':
      return answer(502, { upstreamReply: refusal.upstreamReply, possiblyDelivered: refusal.possiblyDelivered, releasable: refusal.releasable });
    case 'unrecorded':
      return answer(503, { upstreamReply: refusal.upstreamReply });
  }
}

/** A JSON answer with a status, for the route modules. */
export function send(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type('application/json').send(body);
}
