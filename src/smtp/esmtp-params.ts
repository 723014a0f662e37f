// What smtp-server parsed from MAIL FROM and RCPT TO that must travel with the
// message to the upstream (DESIGN.md "Envelope fidelity"): BODY, SMTPUTF8,
// REQUIRETLS (smtp-server accepts it only on TLS sessions), RET, ENVID and each
// recipient's NOTIFY and ORCPT.

import type { SMTPServerSession } from 'smtp-server';
import type { EsmtpParams, RecipientParams } from '../policy/verdict.js';

interface ParsedEnvelope {
  bodyType?: string;
  smtpUtf8?: boolean;
  requireTLS?: boolean;
  dsn?: { ret?: string | null; envid?: string | null };
}

interface ParsedRecipient {
  address: string;
  dsn?: { notify?: string[]; orcpt?: string };
}

export function esmtpParamsOf(session: SMTPServerSession): EsmtpParams {
  const envelope = session.envelope as unknown as ParsedEnvelope & { rcptTo: ParsedRecipient[] };
  const recipients = new Map<string, RecipientParams>();
  for (const r of envelope.rcptTo) {
    if (r.dsn && (r.dsn.notify || r.dsn.orcpt)) recipients.set(r.address, { notify: r.dsn.notify, orcpt: r.dsn.orcpt });
  }
  const ret = envelope.dsn?.ret === 'FULL' || envelope.dsn?.ret === 'HDRS' ? envelope.dsn.ret : undefined;
  return {
    eightBitMime: envelope.bodyType?.toUpperCase() === '8BITMIME',
    smtputf8: envelope.smtpUtf8 === true,
    requireTLS: envelope.requireTLS === true,
    ret,
    // smtp-server has decoded the xtext of ENVID and ORCPT already; the upstream client encodes them again.
    envid: envelope.dsn?.envid ?? undefined,
    recipients,
  };
}
