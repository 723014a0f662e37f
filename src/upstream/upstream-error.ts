// What went wrong between mail-guard and the upstream relay, in a form the rest of
// the proxy can act on without knowing nodemailer: a kind, the stage it happened
// at (did the upstream possibly get the message?), the upstream's own reply if it
// gave one, and the class for mailguard_upstream_errors_total{class}.
//
// Classification reads nodemailer's error codes (err.code, err.responseCode,
// err.command, err.originalCode); it never matches message texts.

/**
 * tls     = no TLS session to the upstream: STARTTLS not offered or refused, a
 *           handshake that failed, a certificate that did not verify (chain, name,
 *           dates); the message says which and what to set;
 * tls-pin = the certificate verified but is not the one upstream.tls.fingerprint256 pins;
 * cancelled = mail-guard gave up on the transaction itself (its mailer hit the
 *           transaction deadline, went away, or was answered 4xx) before the final
 *           dot: the upstream does not have the message. Not the upstream's fault.
 */
export type UpstreamErrorKind = 'connect' | 'tls' | 'tls-pin' | 'auth' | 'transient' | 'permanent' | 'dropped' | 'timeout' | 'cancelled';

/**
 * connect  = opening the session (TCP, greeting, EHLO, STARTTLS, AUTH);
 * envelope = MAIL/RCPT/DATA, before any message byte was sent;
 * data     = the message and its final dot were (being) sent: the upstream may have it.
 */
export type UpstreamStage = 'connect' | 'envelope' | 'data';

/** The label values of mailguard_upstream_errors_total{class}. */
export const UPSTREAM_ERROR_CLASSES = ['connect', '4xx', '5xx'] as const;
export type UpstreamMetricClass = (typeof UPSTREAM_ERROR_CLASSES)[number];

/** The transaction was cancelled (its AbortSignal fired) before anything of it could complete upstream. */
export function cancelledError(stage: UpstreamStage, reason: string): UpstreamError {
  return new UpstreamError({ kind: 'cancelled', stage, message: `transaction cancelled before its final dot: ${reason}` });
}

/** Why a signal fired, for the log (ingress aborts with a string). */
export function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (typeof reason === 'string') return reason;
  return reason instanceof Error ? reason.message : 'aborted';
}

/** One recipient the upstream refused at RCPT TO while others were accepted (or all were refused). */
export interface RejectedRecipient {
  readonly recipient: string;
  readonly code: number;
  /** The upstream's reply line(s), as received. */
  readonly response: string;
  readonly permanent: boolean;
}

export interface UpstreamErrorInit {
  kind: UpstreamErrorKind;
  stage: UpstreamStage;
  message: string;
  responseCode?: number | undefined;
  response?: string | undefined;
  /** nodemailer's error code (ECONNECTION, ETIMEDOUT, …) or a Node errno code, for the log. */
  code?: string | undefined;
  command?: string | undefined;
  rejected?: readonly RejectedRecipient[] | undefined;
  cause?: unknown;
}

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  readonly kind: UpstreamErrorKind;
  readonly stage: UpstreamStage;
  readonly responseCode: number | undefined;
  /** The upstream's reply text (raw, unsanitised: sanitise before it reaches a socket). */
  readonly response: string | undefined;
  readonly code: string | undefined;
  readonly command: string | undefined;
  /** Recipients refused at RCPT TO (set when all of them were refused). */
  readonly rejected: readonly RejectedRecipient[] | undefined;
  readonly metricClass: UpstreamMetricClass;

  constructor(init: UpstreamErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.stage = init.stage;
    this.responseCode = init.responseCode;
    this.response = init.response;
    this.code = init.code;
    this.command = init.command;
    this.rejected = init.rejected;
    this.metricClass = metricClassOf(init.kind, init.responseCode);
  }

  /**
   * True when the connection failed after the message was sent: the upstream may
   * have queued it, so a retry by the mailer may deliver it twice (a duplicate
   * beats a loss). Log it as "possible duplicate".
   */
  get possiblyDelivered(): boolean {
    return this.stage === 'data' && (this.kind === 'dropped' || this.kind === 'timeout');
  }
}

function metricClassOf(kind: UpstreamErrorKind, responseCode: number | undefined): UpstreamMetricClass {
  if (kind !== 'transient' && kind !== 'permanent') return 'connect';
  if (responseCode !== undefined) return responseCode >= 500 ? '5xx' : '4xx';
  return kind === 'permanent' ? '5xx' : '4xx';
}

// Codes Node's TLS layer puts on a handshake or certificate failure (tls docs,
// "X509 certificate error codes"), which nodemailer reports as ESOCKET with the
// original in err.originalCode.
const TLS_ERROR_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
]);

/**
 * The code of the error upstream-tls.ts's checkServerIdentity returns when the
 * certificate is not the pinned one (nodemailer keeps it as err.originalCode).
 */
export const TLS_PIN_MISMATCH = 'ERR_MAILGUARD_TLS_PIN_MISMATCH';

// Certificate failures an operator fixes with upstream.tls.ca: the chain does not
// end in a CA mail-guard trusts.
const UNTRUSTED_CHAIN_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_UNTRUSTED',
  'INVALID_CA',
]);

/**
 * Why a TLS session to the upstream failed, for the log: what happened (Node's
 * code) and which key fixes it. Host names appear, mail addresses never do (this
 * is the connect stage: no envelope exists yet).
 */
export function tlsFailureReason(code: string | undefined, message: string): string {
  if (code === TLS_PIN_MISMATCH) return message;
  if (code !== undefined && UNTRUSTED_CHAIN_CODES.has(code)) {
    return `upstream certificate is not trusted (${code}): if the relay's certificate comes from a private CA, set upstream.tls.ca to that CA`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    return `upstream certificate is not valid for the name mail-guard checks (${message}); set upstream.tls.servername to a name the certificate carries`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `upstream certificate is outside its validity period (${code})`;
  }
  if (code === 'CERT_REVOKED') return 'upstream certificate is revoked (CERT_REVOKED)';
  if (code === 'ETLS') {
    return (
      `STARTTLS with the upstream failed (${message}); with upstream.requireTLS nothing is sent without it ` +
      '(a relay speaking implicit TLS, port 465, needs upstream.secure: true)'
    );
  }
  if (code !== undefined && (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_'))) {
    return `TLS handshake with the upstream failed (${code}: ${message}); check upstream.tls.minVersion and the relay's TLS settings`;
  }
  return `TLS with the upstream failed${code ? ` (${code})` : ''}: ${message}`;
}

/** True for an error code that names a TLS handshake or certificate failure. */
export function isTlsErrorCode(code: string | undefined): boolean {
  if (!code) return false;
  return (
    TLS_ERROR_CODES.has(code) ||
    code === TLS_PIN_MISMATCH ||
    code.startsWith('ERR_TLS_') ||
    code.startsWith('ERR_SSL_') ||
    code === 'ETLS' ||
    code === 'EREQUIRETLS'
  );
}

interface NodemailerErrorShape {
  message?: unknown;
  code?: unknown;
  originalCode?: unknown;
  responseCode?: unknown;
  response?: unknown;
  command?: unknown;
  rejectedErrors?: unknown;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function replyCode(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 200 && v <= 599 ? v : undefined;
}

/** Recipients refused at RCPT TO, from nodemailer's rejectedErrors (each carries recipient/responseCode/response). */
export function rejectedRecipientsOf(rejectedErrors: unknown): RejectedRecipient[] {
  if (!Array.isArray(rejectedErrors)) return [];
  const out: RejectedRecipient[] = [];
  for (const item of rejectedErrors as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const e = item as { recipient?: unknown; responseCode?: unknown; response?: unknown };
    const recipient = str(e.recipient);
    if (recipient === undefined) continue;
    const code = replyCode(e.responseCode) ?? 550;
    out.push({ recipient, code, response: str(e.response) ?? String(code), permanent: code >= 500 });
  }
  return out;
}

/**
 * Maps whatever the upstream client failed with to an UpstreamError. `stage` is where
 * the caller was: 'connect' while opening the session, 'envelope' before the message
 * was sent, 'data' once it was (being) sent.
 */
export function classifyUpstreamFailure(err: unknown, stage: UpstreamStage): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const e: NodemailerErrorShape = typeof err === 'object' && err !== null ? err : {};
  const message = str(e.message) ?? (typeof err === 'string' ? err : 'upstream failure');
  const code = str(e.code);
  const originalCode = str(e.originalCode);
  const responseCode = replyCode(e.responseCode);
  const response = str(e.response);
  const command = str(e.command);
  const base = { message, responseCode, response, code: originalCode ?? code, command, cause: err };

  // Opening the session: whatever the cause, nothing was sent; the kind tells the operator why.
  if (stage === 'connect') {
    if (code === 'EAUTH' || code === 'ENOAUTH') return new UpstreamError({ ...base, kind: 'auth', stage });
    if (code === TLS_PIN_MISMATCH || originalCode === TLS_PIN_MISMATCH) {
      return new UpstreamError({ ...base, kind: 'tls-pin', stage, code: TLS_PIN_MISMATCH });
    }
    if (isTlsErrorCode(code) || isTlsErrorCode(originalCode)) {
      return new UpstreamError({ ...base, kind: 'tls', stage, message: tlsFailureReason(originalCode ?? code, message) });
    }
    return new UpstreamError({ ...base, kind: code === 'ETIMEDOUT' ? 'timeout' : 'connect', stage });
  }

  switch (code) {
    case 'ETIMEDOUT':
      return new UpstreamError({ ...base, kind: 'timeout', stage });
    case 'EAUTH':
    case 'ENOAUTH':
      return new UpstreamError({ ...base, kind: 'auth', stage });
    case 'ETLS':
    case 'EREQUIRETLS':
      return new UpstreamError({ ...base, kind: 'tls', stage });
    case 'EENVELOPE': {
      if (responseCode !== undefined && responseCode >= 400) {
        if (command === 'RCPT TO') {
          // All recipients refused: temporary if any refusal was temporary (a retry may succeed).
          const rejected = rejectedRecipientsOf(e.rejectedErrors);
          const kind = rejected.length === 0 ? kindOfReply(responseCode) : rejected.some((r) => !r.permanent) ? 'transient' : 'permanent';
          return new UpstreamError({ ...base, kind, stage: 'envelope', rejected: rejected.length ? rejected : undefined });
        }
        // MAIL FROM or DATA refused.
        return new UpstreamError({ ...base, kind: kindOfReply(responseCode), stage: 'envelope' });
      }
      // Refused by nodemailer itself before anything was sent (an address it will not put on the wire).
      return new UpstreamError({ ...base, kind: 'permanent', stage: 'envelope', responseCode: 553, response: '553 5.1.3 Invalid envelope address' });
    }
    case 'EMESSAGE':
      if (responseCode !== undefined && responseCode >= 400) {
        return new UpstreamError({ ...base, kind: kindOfReply(responseCode), stage: 'data' });
      }
      // The message is larger than the SIZE the upstream announced: refused before MAIL FROM.
      return new UpstreamError({
        ...base,
        kind: 'permanent',
        stage: 'envelope',
        responseCode: 552,
        response: "552 5.3.4 Message exceeds the upstream relay's size limit",
      });
    default:
      break;
  }

  // The upstream answered with a failure and then (or thereby) ended the session:
  // 421 anywhere, or an unterminated 4xx/5xx line before the socket closed.
  if (responseCode !== undefined && responseCode >= 400 && code !== 'EPROTOCOL') {
    return new UpstreamError({ ...base, kind: kindOfReply(responseCode), stage });
  }
  // ECONNECTION, ESOCKET, EPROTOCOL (unexpected reply, reply too long), ESTREAM, anything else:
  // the connection is gone and the upstream's state is unknown.
  return new UpstreamError({ ...base, kind: 'dropped', stage });
}

// 503 (bad sequence of commands) says the session was out of step, not that the
// message was refused: the same message can go through on a new connection, so it
// must not become a permanent bounce (nodemailer's isPermanentResponseCode agrees).
function kindOfReply(responseCode: number): 'transient' | 'permanent' {
  return responseCode >= 500 && responseCode !== 503 ? 'permanent' : 'transient';
}
