// nodemailer's SMTPConnection puts ONE NOTIFY and ONE ORCPT on every RCPT TO
// of a transaction (envelope.dsn), but a hop must carry each recipient's own
// (ORCPT is the original address of that recipient). This wraps the two
// internal methods once per connection, as upstream-connection.ts does with
// _createSendStream: if a nodemailer upgrade renames them, the per-recipient
// parameters are dropped and the test "each recipient keeps its own NOTIFY and
// ORCPT" fails.

import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { RecipientParams } from '../policy/verdict.js';

/** The envelope field the wrapped methods read: recipient address -> its parameters. */
export const RECIPIENT_PARAMS = 'mailGuardRecipientParams';

interface Internals {
  _sendRcpt?: (recipient: string, callback: unknown) => void;
  _getDsnRcptToArgs?: () => string;
  _envelope?: Record<string, unknown> | null;
  _supportedExtensions?: string[];
}

/** True when installed; false when this nodemailer has no such internals. */
export function installRecipientParams(smtp: SMTPConnection): boolean {
  const internals = smtp as unknown as Internals;
  const sendRcpt = internals._sendRcpt;
  const dsnArgs = internals._getDsnRcptToArgs;
  if (typeof sendRcpt !== 'function' || typeof dsnArgs !== 'function') return false;
  let current: string | null = null;
  internals._sendRcpt = function (this: Internals, recipient, callback) {
    current = recipient;
    try {
      sendRcpt.call(this, recipient, callback);
    } finally {
      current = null;
    }
  };
  internals._getDsnRcptToArgs = function (this: Internals) {
    const byRecipient = this._envelope?.[RECIPIENT_PARAMS] as ReadonlyMap<string, RecipientParams> | undefined;
    if (!byRecipient || current === null) return dsnArgs.call(this);
    if (!this._supportedExtensions?.includes('DSN')) return '';
    const params = byRecipient.get(current);
    const args: string[] = [];
    if (params?.notify?.length) args.push(`NOTIFY=${params.notify.join(',')}`);
    if (params?.orcpt) args.push(`ORCPT=${orcptXtext(params.orcpt)}`);
    return args.length ? ` ${args.join(' ')}` : '';
  };
  return true;
}

/** RFC 3461 s4: `addr-type;xtext`, where '+', '=' and anything outside '!'..'~' is `+HH`. */
function orcptXtext(orcpt: string): string {
  const semi = orcpt.indexOf(';');
  const type = semi > 0 ? orcpt.slice(0, semi) : 'rfc822';
  const address = semi > 0 ? orcpt.slice(semi + 1) : orcpt;
  let out = '';
  for (const byte of Buffer.from(address, 'utf8')) {
    out += byte < 0x21 || byte > 0x7e || byte === 0x2b || byte === 0x3d ? `+${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return `${type};${out}`;
}
