import type { EsmtpParams, RecipientParams } from '../policy/verdict.js';
import type { RecordEsmtp } from '../store/record.js';

// A delayed (or held) message leaves long after its transaction: the ESMTP
// parameters it came with are kept in its record as JSON and given back to
// the relay when it goes, so DSN requests, 8BITMIME, SMTPUTF8 and REQUIRETLS
// are not lost on the way through the store.

export function esmtpForRecord(esmtp: EsmtpParams | undefined): RecordEsmtp | undefined {
  if (!esmtp) return undefined;
  const recipients: [string, { notify?: readonly string[]; orcpt?: string }][] = [];
  for (const [address, params] of esmtp.recipients) {
    const kept: { notify?: readonly string[]; orcpt?: string } = {};
    if (params.notify) kept.notify = [...params.notify];
    if (params.orcpt !== undefined) kept.orcpt = params.orcpt;
    recipients.push([address, kept]);
  }
  return {
    eightBitMime: esmtp.eightBitMime,
    smtputf8: esmtp.smtputf8,
    requireTLS: esmtp.requireTLS,
    ...(esmtp.ret ? { ret: esmtp.ret } : {}),
    ...(esmtp.envid !== undefined ? { envid: esmtp.envid } : {}),
    recipients,
  };
}

export function esmtpFromRecord(stored: RecordEsmtp | undefined): EsmtpParams | undefined {
  if (!stored) return undefined;
  const recipients = new Map<string, RecipientParams>();
  for (const [address, params] of stored.recipients) recipients.set(address, { notify: params.notify, orcpt: params.orcpt });
  return {
    eightBitMime: stored.eightBitMime,
    smtputf8: stored.smtputf8,
    requireTLS: stored.requireTLS,
    ret: stored.ret,
    envid: stored.envid,
    recipients,
  };
}
