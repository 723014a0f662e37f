// After mail-guard said 250 it owns the message (RFC 5321 s6.1): a copy the
// upstream then refuses for good must come back to the sender as a delivery
// status notification, or a newsletter system keeps mailing a dead address and
// nobody learns why. This builds that report (RFC 3464 inside RFC 6522
// multipart/report), in the sender notice language, from the upstream's own
// status and text.

import { parseUpstreamResponse } from '../upstream/reply-for-upstream-error.js';
import type { RefusedCopy } from './outcome.js';

export type NoticeLanguage = 'ja' | 'en';

export interface DeliveryReportInput {
  /** mail-guard's message id: in the subject line of the human part, the record and the log. */
  readonly id: string;
  /** This host, as the reporting MTA. */
  readonly reportingMta: string;
  /** The upstream relay that refused, as the remote MTA. */
  readonly remoteMta: string | null;
  readonly arrivalDate: Date;
  /** The envelope sender, who gets the report. */
  readonly sender: string;
  /** With each recipient's ORCPT (RFC 3461), when the mailer gave one. */
  readonly refused: readonly (RefusedCopy & { readonly orcpt?: string | undefined })[];
  /** The mailer's ENVID, returned as Original-Envelope-Id. */
  readonly envid?: string | undefined;
  /** The original header block (CRLF, ending with the empty line or not): returned as text/rfc822-headers. */
  readonly originalHeader: Buffer;
  readonly language: NoticeLanguage;
  /** For tests: a fixed boundary and date. */
  readonly now?: Date;
}

const TEXT = {
  en: {
    subject: 'Undelivered Mail Returned to Sender',
    intro: (id: string) =>
      `This is mail-guard, the outbound mail gateway. Your message ${id} was accepted, ` +
      'but the relay refused it for the recipients below for good. It will not be retried.',
    recipient: 'Recipient',
    reply: 'Reply from the relay',
    outro: 'Remove or correct these addresses. The undelivered copies are kept for review by the mail-guard operators.',
  },
  ja: {
    subject: '配信できなかったメールのお知らせ',
    intro: (id: string) =>
      `送信ゲートウェイ mail-guard からのお知らせです。メッセージ ${id} は受け付けましたが、` +
      '以下の宛先については中継サーバーが恒久的に受け取りを拒否しました。再送は行いません。',
    recipient: '宛先',
    reply: '中継サーバーの応答',
    outro: 'これらの宛先を削除または修正してください。配信できなかったコピーは mail-guard の担当者が確認できるよう保管しています。',
  },
} as const;

// No CR/LF may reach a header or a status field; the rest of the text is kept.
const oneLine = (text: string): string => text.replace(/[\r\n\t]+/g, ' ').trim();
// eslint-disable-next-line no-control-regex -- the ASCII range, NUL included, is the point
const isAscii = (text: string): boolean => !/[^\x00-\x7f]/.test(text);

/** RFC 2047 for a header that holds non-ASCII text. */
function headerText(text: string): string {
  return isAscii(text) ? text : `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

/** The status of a refusal: the upstream's enhanced code, or the class of its reply code. */
function statusOf(refused: RefusedCopy): { status: string; text: string } {
  const parsed = parseUpstreamResponse(refused.response);
  const cls = Math.floor(refused.code / 100);
  const status = parsed.enhanced?.startsWith(`${cls}.`) ? parsed.enhanced : `${cls === 4 ? 4 : 5}.0.0`;
  return { status, text: oneLine(parsed.text) };
}

/** RFC 3461 address types: `rfc822` for ASCII, `utf-8` (RFC 6533) for an SMTPUTF8 address. */
function addressField(address: string): string {
  return isAscii(address) ? `rfc822; ${address}` : `utf-8; ${address}`;
}

function base64Lines(text: string): string {
  return (
    Buffer.from(text, 'utf8')
      .toString('base64')
      .match(/.{1,76}/g) ?? []
  ).join('\r\n');
}

/** The whole report as it goes to the upstream: MAIL FROM:<> to the envelope sender. */
export function buildDeliveryReport(input: DeliveryReportInput): Buffer {
  const now = input.now ?? new Date();
  const t = TEXT[input.language];
  const boundary = `=_mail-guard-report-${input.id}`;
  const statuses = input.refused.map((r) => ({ refused: r, ...statusOf(r) }));

  const human = [
    t.intro(input.id),
    '',
    ...statuses.flatMap(({ refused, text }) => [`${t.recipient}: ${refused.recipient}`, `${t.reply}: ${refused.code} ${text}`, '']),
    t.outro,
    '',
  ].join('\n');

  const perMessage = [
    ...(input.envid ? [`Original-Envelope-Id: ${oneLine(input.envid)}`] : []),
    `Reporting-MTA: dns; ${input.reportingMta}`,
    `X-Mail-Guard-Id: ${input.id}`,
    `Arrival-Date: ${input.arrivalDate.toUTCString().replace('GMT', '+0000')}`,
  ];
  const perRecipient = statuses.map(({ refused, status }) =>
    [
      // ORCPT comes as addr-type;xtext, which is the field's own syntax.
      ...(refused.orcpt ? [`Original-Recipient: ${oneLine(refused.orcpt)}`] : []),
      `Final-Recipient: ${addressField(refused.recipient)}`,
      'Action: failed',
      `Status: ${status}`,
      ...(input.remoteMta ? [`Remote-MTA: dns; ${input.remoteMta}`] : []),
      `Diagnostic-Code: smtp; ${oneLine(`${refused.code} ${refused.response.replace(/^\d{3}[ -]/, '')}`).slice(0, 900)}`,
    ].join('\r\n'),
  );

  let original = input.originalHeader.toString('utf8');
  const end = original.indexOf('\r\n\r\n');
  if (end !== -1) original = original.slice(0, end + 2);
  else if (!original.endsWith('\r\n')) original += '\r\n';

  const lines = [
    `From: ${headerText(input.language === 'ja' ? 'メール配信システム' : 'Mail Delivery System')} <MAILER-DAEMON@${input.reportingMta}>`,
    `To: <${input.sender}>`,
    `Subject: ${headerText(t.subject)}`,
    `Date: ${now.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${input.id}.report@${input.reportingMta}>`,
    // RFC 3834: nobody should answer this automatically.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    `Content-Language: ${input.language}`,
    '',
    base64Lines(human),
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    perMessage.join('\r\n'),
    '',
    perRecipient.join('\r\n\r\n'),
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    ...(isAscii(original) ? [] : ['Content-Transfer-Encoding: 8bit']),
    '',
    original,
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}
