import { RELEASE_FORMS, type ReleaseForm } from '../review/lifecycle.js';
import { RECORD_STATUSES, type RecordStatus } from '../store/record.js';
import { HttpError } from './http-answers.js';
import { isMessageId } from '../message/message-id.js';

// Input checks for the admin API: everything a client sends is checked here,
// before any of it reaches the store (no path traversal through an id, no
// surprise types), and every refusal names what to fix.

const CAMPAIGN_KEY = /^[0-9a-f]{24}$/;
const MAX_NOTE_CHARS = 1000;
const MAX_CURSOR_CHARS = 512;

export function messageId(value: string): string {
  if (!isMessageId(value)) throw new HttpError(404, 'no message with this id (ids are 26-character ULIDs as in "held for review <id>")');
  return value;
}

export function campaignKeyParam(value: string): string {
  if (!CAMPAIGN_KEY.test(value)) throw new HttpError(404, 'no campaign with this key (take the key from GET /api/campaigns)');
  return value;
}

export interface ListParams {
  readonly status: RecordStatus | undefined;
  readonly limit: number;
  readonly cursor: string | undefined;
}

export function listParams(query: Readonly<Record<string, unknown>>): ListParams {
  for (const key of Object.keys(query)) {
    if (key !== 'status' && key !== 'limit' && key !== 'cursor') throw new HttpError(400, `unknown query parameter "${key}"; use status, limit or cursor`);
  }
  const status = single(query, 'status');
  if (status !== undefined && !(RECORD_STATUSES as readonly string[]).includes(status)) {
    throw new HttpError(400, `status must be one of ${RECORD_STATUSES.join(', ')}`);
  }
  const limitText = single(query, 'limit');
  let limit = 50;
  if (limitText !== undefined) {
    limit = /^\d{1,4}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= 500)) throw new HttpError(400, 'limit must be a whole number from 1 to 500');
  }
  const cursor = single(query, 'cursor');
  if (cursor !== undefined && (cursor === '' || cursor.length > MAX_CURSOR_CHARS || /[^\x21-\x7e]/.test(cursor))) {
    throw new HttpError(400, 'cursor must be the nextCursor of the previous page');
  }
  return { status: status as RecordStatus | undefined, limit, cursor };
}

function single(query: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const value = query[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new HttpError(400, `give ${key} once`);
  return value;
}

/** The JSON object of a POST, with only the fields this action knows (a typo is refused, not ignored). */
export function bodyFields(body: unknown, allowed: readonly string[]): Readonly<Record<string, unknown>> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'the request body must be a JSON object');
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!allowed.includes(key)) throw new HttpError(400, `unknown field "${key}"; this action takes ${allowed.map((a) => `"${a}"`).join(', ')}`);
  }
  return fields;
}

export function optionalReason(fields: Readonly<Record<string, unknown>>): string | null {
  const reason = fields['reason'];
  if (reason === undefined || reason === null) return null;
  if (typeof reason !== 'string') throw new HttpError(400, '"reason" must be a string');
  const trimmed = reason.trim();
  if (trimmed.length > MAX_NOTE_CHARS) throw new HttpError(400, `"reason" is longer than ${MAX_NOTE_CHARS} characters`);
  return trimmed === '' ? null : trimmed;
}

export function requiredReason(fields: Readonly<Record<string, unknown>>): string {
  const reason = optionalReason(fields);
  if (reason === null) throw new HttpError(400, 'a discard needs a "reason": say why, it goes into the history');
  return reason;
}

/** No default on purpose: the form decides who sees whose address, so the caller must say it. */
export function releaseForm(fields: Readonly<Record<string, unknown>>): ReleaseForm {
  const as = fields['as'];
  if (typeof as !== 'string' || !(RELEASE_FORMS as readonly string[]).includes(as)) {
    throw new HttpError(400, `say how to release it: {"as": "bcc"} (recipients hidden), "split" (one copy per recipient) or "original" (addresses visible, approver role)`);
  }
  return as as ReleaseForm;
}
