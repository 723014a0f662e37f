// What one transaction asks of the upstream, and the checks that refuse it here,
// before anything is sent, when the session at hand cannot carry it faithfully.

import { isAscii } from 'node:buffer';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { RecipientParams } from '../policy/verdict.js';
import { RECIPIENT_PARAMS } from './recipient-params.js';
import type { UpstreamConnection } from './upstream-connection.js';
import { UpstreamError } from './upstream-error.js';

export interface UpstreamEnvelope {
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  /** Sent as SIZE= when the upstream supports it; defaults to the message length. */
  readonly size?: number;
  /** The message needs SMTPUTF8: refused (553 5.6.7) if the upstream does not offer it. */
  readonly smtputf8?: boolean;
  /** Declare BODY=8BITMIME when the upstream supports it. */
  readonly eightBitMime?: boolean;
  /** RFC 8689: only over verified TLS to a relay that offers REQUIRETLS, else refused (550 5.7.30). */
  readonly requireTLS?: boolean;
  /** DSN parameters of MAIL FROM (RFC 3461), sent when the upstream offers DSN. */
  readonly dsn?: { readonly ret?: 'FULL' | 'HDRS' | undefined; readonly envid?: string | undefined };
  /** Each recipient's NOTIFY and ORCPT, by the address in rcptTo. */
  readonly recipientParams?: ReadonlyMap<string, RecipientParams>;
}

/** Whether any byte of the message is outside 7-bit ASCII (native scan). */
function hasEightBitData(message: Buffer | readonly Buffer[]): boolean {
  return (Buffer.isBuffer(message) ? [message] : message).some((chunk) => !isAscii(chunk));
}

const refusedHere = (responseCode: number, response: string, message: string): UpstreamError =>
  new UpstreamError({ kind: 'permanent', stage: 'envelope', responseCode, response, message });

/** Why this session must not carry the transaction, or null when it may. */
export function refusalFor(conn: UpstreamConnection, envelope: UpstreamEnvelope, message: Buffer | readonly Buffer[]): UpstreamError | null {
  if (envelope.smtputf8 && conn.supports('SMTPUTF8') === false) {
    return refusedHere(553, '553 5.6.7 The upstream relay does not support SMTPUTF8', 'upstream does not offer SMTPUTF8');
  }
  // Never sent as if it were 7-bit: an upstream without 8BITMIME gets no 8-bit
  // data (the byte scan runs only for such an upstream).
  if (conn.supports('8BITMIME') === false && (envelope.eightBitMime || hasEightBitData(message))) {
    return refusedHere(
      554,
      '554 5.6.3 The upstream relay does not accept 8-bit data (no 8BITMIME); send the message 7-bit encoded (quoted-printable or base64)',
      'upstream does not offer 8BITMIME',
    );
  }
  if (envelope.requireTLS && !(conn.verifiedTls && conn.supports('REQUIRETLS') === true)) {
    return refusedHere(
      550,
      '550 5.7.30 REQUIRETLS: the upstream relay cannot be reached over verified TLS with REQUIRETLS; the message was not sent',
      'REQUIRETLS cannot be met by the upstream',
    );
  }
  return null;
}

/** nodemailer's envelope for one attempt: it writes its bookkeeping onto the object, so a fresh one each time. */
export function nodemailerEnvelope(envelope: UpstreamEnvelope, message: Buffer | readonly Buffer[]): SMTPConnection.Envelope {
  const upstreamEnvelope: SMTPConnection.Envelope & Record<string, unknown> = {
    from: envelope.mailFrom,
    to: envelope.rcptTo as string[],
    size: envelope.size ?? byteLength(message),
    // Undefined: no mailer declared anything (a release of a stored message): declare BODY=8BITMIME when the bytes need it.
    use8BitMime: envelope.eightBitMime ?? hasEightBitData(message),
  };
  if (envelope.requireTLS) upstreamEnvelope['requireTLSExtensionEnabled'] = true;
  if (envelope.dsn && (envelope.dsn.ret || envelope.dsn.envid)) {
    upstreamEnvelope.dsn = { ...(envelope.dsn.ret ? { ret: envelope.dsn.ret } : {}), ...(envelope.dsn.envid ? { envid: envelope.dsn.envid } : {}) };
  }
  if (envelope.recipientParams?.size) upstreamEnvelope[RECIPIENT_PARAMS] = envelope.recipientParams;
  return upstreamEnvelope;
}

function byteLength(message: Buffer | readonly Buffer[]): number {
  if (Buffer.isBuffer(message)) return message.length;
  let n = 0;
  for (const chunk of message) n += chunk.length;
  return n;
}
