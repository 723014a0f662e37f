// The one place that decides what the mailer hears when the upstream relay answered
// or failed. Principles (THREATS.md 5-6): nothing is answered 250 unless the
// upstream said 250; anything that leaves the upstream's state unknown before the
// message was sent is a 451 4.4.1 (fail closed, try again); a connection lost after
// the final dot is a 451 4.4.2 that says the message may arrive twice (a duplicate
// beats a loss); a real 4xx/5xx answer from the upstream keeps its class and its
// enhanced code, with the upstream's text (sanitised) after "upstream: ".
//
// 421 ("closing channel") is never passed on as 421: to the mailer that would mean
// mail-guard itself is closing the session. It becomes 451 4.4.1 with the
// upstream's text.

import { replies, sanitizeReplyText, type SmtpReply } from '../reply/replies.js';
import type { UpstreamError, UpstreamErrorKind, UpstreamStage } from './upstream-error.js';

export interface ParsedUpstreamResponse {
  /** The reply code of the first line, if the text starts with one. */
  readonly code: number | undefined;
  /** The RFC 3463 enhanced code at the start of the text, if any (e.g. "4.2.0"). */
  readonly enhanced: string | undefined;
  /** The text without reply codes and the enhanced code; lines of a multiline reply joined by a space. */
  readonly text: string;
}

const REPLY_CODE = /^(\d{3})(?:[ -]|$)/;
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)\s*/;

/** Splits an upstream reply ("550-5.1.1 a\n550 5.1.1 b") into code, enhanced code and text. */
export function parseUpstreamResponse(response: string): ParsedUpstreamResponse {
  let code: number | undefined;
  let enhanced: string | undefined;
  const parts: string[] = [];
  const lines = response.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] ?? '';
    const c = REPLY_CODE.exec(line);
    if (c) {
      if (i === 0) code = Number(c[1]);
      line = line.slice(c[0].length);
    }
    const m = ENHANCED.exec(line);
    if (m && (i === 0 || `${m[1]}.${m[2]}.${m[3]}` === enhanced)) {
      if (i === 0) enhanced = `${m[1]}.${m[2]}.${m[3]}`;
      line = line.slice(m[0].length);
    }
    line = line.trim();
    if (line) parts.push(line);
  }
  return { code, enhanced, text: parts.join(' ') };
}

/** "upstream: <text>", sanitised so that upstream text can never split or forge a reply line. */
function upstreamText(text: string, fallback: string): string {
  return sanitizeReplyText(`upstream: ${text || fallback}`);
}

/** Keeps the upstream's code and enhanced code when both belong to `cls` (4 or 5). */
function keepClass(e: Pick<UpstreamError, 'response' | 'responseCode'>, cls: 4 | 5, fallbackCode: number, fallbackText: string): SmtpReply {
  const parsed = parseUpstreamResponse(e.response ?? '');
  const source = e.responseCode ?? parsed.code;
  const code = source !== undefined && Math.floor(source / 100) === cls ? source : fallbackCode;
  if (parsed.enhanced !== undefined && parsed.enhanced.startsWith(`${cls}.`)) {
    return { code, enhanced: parsed.enhanced, text: upstreamText(parsed.text, fallbackText) };
  }
  // No enhanced code, or one of the wrong class (kept in the text, it may still help a person).
  const text = parsed.enhanced === undefined ? parsed.text : `${parsed.enhanced} ${parsed.text}`;
  return { code, enhanced: `${cls}.0.0`, text: upstreamText(text, fallbackText) };
}

type ReplyRule = (e: UpstreamError) => SmtpReply;

const closing = (e: UpstreamError): SmtpReply | undefined =>
  e.responseCode === 421 ? { code: 451, enhanced: '4.4.1', text: upstreamText(parseUpstreamResponse(e.response ?? '').text, 'closing connection') } : undefined;

const unreachable: ReplyRule = (e) => closing(e) ?? replies.upstreamUnreachable();
const tlsFailed: ReplyRule = (e) =>
  closing(e) ?? { code: 451, enhanced: '4.4.1', text: 'Upstream relay could not be reached securely (TLS failed); try again later' };
// The chain and the name verified, but the certificate is not the pinned one: a
// security failure (RFC 3463 X.7.5, cryptographic failure, as Postfix answers an
// unverified relay certificate), temporary so the mailer keeps the message until
// the operator has looked (a rotated certificate, or someone in the path).
const pinMismatch: ReplyRule = () => ({
  code: 451,
  enhanced: '4.7.5',
  text: 'Upstream certificate does not match upstream.tls.fingerprint256; nothing was relayed, try again later',
});
const authFailed: ReplyRule = (e) => closing(e) ?? { code: 451, enhanced: '4.4.1', text: "Upstream relay did not accept the proxy's login; try again later" };
const dropped: ReplyRule = () => replies.upstreamDropped();

const deferred: ReplyRule = (e) => {
  const c = closing(e);
  if (c) return c;
  // 503 (bad sequence) is classified transient: the session was out of step, the
  // message itself was not refused, so it must not bounce.
  if (e.responseCode !== undefined && e.responseCode >= 500) {
    return { code: 451, enhanced: '4.5.0', text: upstreamText(parseUpstreamResponse(e.response ?? '').text, 'protocol error') };
  }
  return keepClass(e, 4, 451, 'message deferred');
};
const refused: ReplyRule = (e) => keepClass(e, 5, 550, 'message refused');

const sameForEveryStage = (rule: ReplyRule): Readonly<Record<UpstreamStage, ReplyRule>> => ({ connect: rule, envelope: rule, data: rule });

/**
 * Every upstream outcome → the mailer's reply. Rows are UpstreamError kinds, columns
 * the stage it happened at; only dropped/timeout depend on the stage (after the
 * dot the upstream may have the message).
 */
export const UPSTREAM_REPLY_TABLE: Readonly<Record<UpstreamErrorKind, Readonly<Record<UpstreamStage, ReplyRule>>>> = {
  connect: sameForEveryStage(unreachable),
  tls: sameForEveryStage(tlsFailed),
  'tls-pin': sameForEveryStage(pinMismatch),
  auth: sameForEveryStage(authFailed),
  transient: sameForEveryStage(deferred),
  permanent: sameForEveryStage(refused),
  dropped: { connect: unreachable, envelope: unreachable, data: dropped },
  timeout: { connect: unreachable, envelope: unreachable, data: dropped },
  // The mailer has usually had its answer already (the deadline's 421); this is what the log line shows.
  cancelled: sameForEveryStage(() => replies.transactionTimeout()),
};

export function replyForUpstreamError(e: UpstreamError): SmtpReply {
  return UPSTREAM_REPLY_TABLE[e.kind][e.stage](e);
}

/** The mailer's 250 for a message the upstream accepted, e.g. `250 2.0.0 upstream: Ok: queued as X`. */
export function replyForUpstreamAccept(response: string): SmtpReply {
  const parsed = parseUpstreamResponse(response);
  const enhanced = parsed.enhanced !== undefined && parsed.enhanced.startsWith('2.') ? parsed.enhanced : '2.0.0';
  return { code: 250, enhanced, text: upstreamText(parsed.text, 'Ok') };
}

/**
 * The mailer's reply when the upstream refused every copy permanently (a split
 * where each RCPT or DATA got a 5xx): its first refusal, code and enhanced code
 * kept. The mailer then owns the bounce; a 250 here would lose the message.
 */
export function replyForRefusedCopy(refusal: { readonly code: number; readonly response: string }): SmtpReply {
  return keepClass({ responseCode: refusal.code, response: refusal.response }, 5, 550, 'message refused');
}
