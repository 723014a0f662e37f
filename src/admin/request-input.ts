import { z } from 'zod';
import { isMessageId } from '../message/message-id.js';
import { RELEASE_FORMS, type ReleaseForm } from '../review/lifecycle.js';
import { RECORD_STATUSES, type RecordStatus } from '../store/record.js';
import { ACTIONS, type PolicyAction } from '../config/schema.js';
import { HttpError } from './http-answers.js';

// Input checks for the admin API: everything a client sends is checked here,
// by one zod schema per request shape, before any of it reaches the store (no
// path traversal through an id, no surprise types). Every refusal is a 400
// naming what to fix; a field the action does not know is refused, not ignored.

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

/** A query parameter given twice arrives as an array. */
const once = (key: string) => z.string({ error: `give ${key} once` });

/** An empty value (an "any" choice in a filter form) is the same as leaving the parameter out. */
const filter = <T extends z.ZodType<unknown, string>>(key: string, schema: T) =>
  once(key)
    .transform((v) => (v === '' ? undefined : v))
    .pipe(schema.optional())
    .optional();

const FILTER_CHARS = 200;
const text = (key: string, what: string) =>
  z
    .string()
    .max(FILTER_CHARS, { error: `${key} is longer than ${FILTER_CHARS} characters` })
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\x00-\x1f\x7f]*$/, { error: `${key} must be ${what} without control characters` });

const LIST_PARAMETERS = 'status, action, rule, violation, sender, q, limit or cursor';

const listQuery = z.strictObject(
  {
    status: filter('status', z.enum(RECORD_STATUSES, { error: `status must be one of ${RECORD_STATUSES.join(', ')}` })),
    action: filter('action', z.enum(ACTIONS, { error: `action must be one of ${ACTIONS.join(', ')} (the verdict's action)` })),
    rule: filter('rule', text('rule', 'a rule name')),
    violation: filter(
      'violation',
      z.enum(['true', 'false'], { error: 'violation must be true or false' }).transform((v) => v === 'true'),
    ),
    sender: filter('sender', text('sender', 'an envelope sender address')),
    q: filter('q', text('q', 'text to look for in the subject, From or sender')),
    limit: once('limit')
      .regex(/^\d{1,4}$/, { error: 'limit must be a whole number from 1 to 500' })
      .transform(Number)
      .pipe(z.number().min(1, { error: 'limit must be a whole number from 1 to 500' }).max(500, { error: 'limit must be a whole number from 1 to 500' }))
      .default(50),
    cursor: once('cursor')
      .regex(new RegExp(`^[\\x21-\\x7e]{1,${MAX_CURSOR_CHARS}}$`), { error: 'cursor must be the nextCursor of the previous page' })
      .optional(),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown query parameter "${issue.keys[0]}"; use ${LIST_PARAMETERS}` : undefined) },
);

/** GET /api/messages (and the UI's message list): a store ListQuery, `q` becoming its `text`. */
export interface ListParams {
  readonly status: RecordStatus | undefined;
  readonly action: PolicyAction | undefined;
  readonly rule: string | undefined;
  readonly violation: boolean | undefined;
  readonly sender: string | undefined;
  readonly text: string | undefined;
  readonly limit: number;
  readonly cursor: string | undefined;
}

/**
 * The query of a message listing, checked: a 400 naming the parameter for
 * anything wrong or unknown; an empty filter value means no filter. Pass the
 * result to store.list as it is.
 */
export function listParams(query: unknown): ListParams {
  const { status, action, rule, violation, sender, q, limit, cursor } = parsed(listQuery, query ?? {});
  // Surrounding spaces in a search box are never meant.
  const text = q?.trim() || undefined;
  return { status, action, rule, violation, sender: sender?.trim() || undefined, text, limit, cursor };
}

const reportQuery = z.strictObject(
  {
    since: once('since')
      .pipe(
        z.union([z.iso.datetime({ offset: true }), z.iso.date()], {
          error: 'since must be an ISO 8601 time with a zone (2026-11-29T08:00:00Z, …+09:00) or a date (2026-11-29, meaning 00:00 UTC)',
        }),
      )
      .transform((v) => new Date(v.length === 10 ? `${v}T00:00:00Z` : v))
      .optional(),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown query parameter "${issue.keys[0]}"; use since` : undefined) },
);

/** GET /api/report: `since`, an ISO time with a zone or a date (UTC). */
export function reportParams(query: unknown): { readonly since: Date | undefined } {
  const { since } = parsed(reportQuery, query ?? {});
  return { since };
}

/** GET /api/overview takes no parameters; an unknown one is refused rather than ignored. */
export function noParams(query: unknown, route: string): void {
  const keys = Object.keys(query ?? {});
  if (keys.length > 0) throw new HttpError(400, `unknown query parameter "${keys[0]}"; ${route} takes none`);
}

const optionalReason = z
  .string({ error: '"reason" must be a string' })
  .trim()
  .max(MAX_NOTE_CHARS, { error: `"reason" is longer than ${MAX_NOTE_CHARS} characters` })
  .nullish()
  .transform((reason) => (reason ? reason : null));

const requiredReason = optionalReason.refine((reason): reason is string => reason !== null, {
  error: 'a discard needs a "reason": say why, it goes into the history',
});

/** No default on purpose: the form decides who sees whose address, so the caller must say it. */
const releaseForm = z.enum(RELEASE_FORMS, {
  error: 'say how to release it: {"as": "bcc"} (recipients hidden), "split" (one copy per recipient) or "original" (addresses visible, approver role)',
});

const knownFields = (fields: string) => (issue: z.core.$ZodRawIssue) =>
  issue.code === 'unrecognized_keys' ? `unknown field "${String(issue.keys[0])}"; this action takes ${fields}` : undefined;

const REVIEW_BODIES = {
  approve: z.strictObject({ reason: optionalReason }, { error: knownFields('"reason"') }),
  discard: z.strictObject({ reason: requiredReason }, { error: knownFields('"reason"') }),
  release: z.strictObject({ as: releaseForm, reason: optionalReason }, { error: knownFields('"as", "reason"') }),
};

export type ApproveBody = { readonly reason: string | null };
export type DiscardBody = { readonly reason: string };
export type ReleaseBody = { readonly as: ReleaseForm; readonly reason: string | null };

/** The body of POST …/approve: an optional reason. An empty body is fine. */
export function approveBody(body: unknown): ApproveBody {
  return parsed(REVIEW_BODIES.approve, objectBody(body));
}

/** The body of POST …/discard (and …/retry-claim): the reason is required, it goes into the history. */
export function discardBody(body: unknown, what = 'a discard'): DiscardBody {
  const result = REVIEW_BODIES.discard.safeParse(objectBody(body));
  if (!result.success) {
    const message = result.error.issues[0]?.message ?? 'the request is not valid';
    throw new HttpError(400, what === 'a discard' ? message : message.replace('a discard needs', `${what} needs`));
  }
  return { reason: result.data.reason };
}

const SENDER_CHARS = 320;
const senderDiscard = z.strictObject(
  {
    sender: z
      .string({ error: 'say whose mail to discard: {"sender": "news@example.co.jp", "reason": "…"} (the envelope sender, whole address)' })
      .trim()
      .min(1, { error: '"sender" is empty: give the envelope sender, whole address' })
      .max(SENDER_CHARS, { error: `"sender" is longer than ${SENDER_CHARS} characters` })
      // eslint-disable-next-line no-control-regex
      .regex(/^[^\x00-\x1f\x7f\s]+$/, { error: '"sender" must be one address without spaces or control characters' }),
    reason: requiredReason,
  },
  { error: knownFields('"sender", "reason"') },
);

/** The body of POST /api/senders/discard: the envelope sender and a reason. */
export function senderDiscardBody(body: unknown): { readonly sender: string; readonly reason: string } {
  const { sender, reason } = parsed(senderDiscard, objectBody(body));
  return { sender, reason };
}

/** The body of POST …/release: the form (required) and an optional reason. */
export function releaseBody(body: unknown): ReleaseBody {
  return parsed(REVIEW_BODIES.release, objectBody(body));
}

function objectBody(body: unknown): object {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'the request body must be a JSON object');
  return body;
}

function parsed<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input);
  if (!result.success) throw new HttpError(400, result.error.issues[0]?.message ?? 'the request is not valid');
  return result.data;
}
