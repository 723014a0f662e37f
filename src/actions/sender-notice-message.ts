// The notice to the envelope sender of held, rejected or paused mail (DESIGN.md
// "Stopping a campaign while it runs"): what was found, what happens next and
// how to fix the send, in notify.language. It names nobody but its reader: the
// exposed addresses are a count and header names, and the quoted subject loses
// anything address-like (a subject can quote a member: "Re: member1@…").
// MailComposer writes the MIME (encoded-word subject, base64 UTF-8 body).

import MailComposer from 'nodemailer/lib/mail-composer';

import type { ContentFinding, ContentPlaceKind } from '../policy/verdict.js';

export type SenderNoticeLanguage = 'ja' | 'en';
export type SenderNoticeKind = 'held' | 'rejected' | 'paused';

export interface SenderNoticeInput {
  /** mail-guard's id of the message the notice is about (the reply, the log line, the console). */
  readonly id: string;
  readonly what: SenderNoticeKind;
  /** notify.from */
  readonly from: string;
  /** The envelope sender: the notice's only reader. */
  readonly to: string;
  readonly subject: string | null;
  readonly receivedAt: Date;
  readonly exposedExternalCount: number;
  readonly exposingHeaders: readonly string[];
  /** Set when the content check decided: how many external addresses the message lists, and in which kinds of place. */
  readonly content?: ContentFinding | undefined;
  readonly language: SenderNoticeLanguage;
  /** For tests: the Date header. */
  readonly now?: Date;
}

// Anything with an @ in it, with the words around it when spaces pad the @ ("a @ b.example").
const ADDRESS_LIKE = /\S*\s*@\s*\S*/gu;
// eslint-disable-next-line no-control-regex -- control characters are what is removed
const INVISIBLE = /[\p{Cf}\u0000-\u001f\u007f-\u009f]/gu;
const MAX_QUOTED = 120;

/**
 * The text with address-like parts replaced by `placeholder`. NFKC first, and
 * format characters out, so a full-width ＠ or a zero-width space by the @
 * (which mail clients show as an address) is caught too. One line, bounded.
 */
export function withoutAddresses(text: string, placeholder: string): string {
  const plain = text.normalize('NFKC').replace(INVISIBLE, ' ').replace(ADDRESS_LIKE, placeholder).replace(/\s+/g, ' ').trim();
  return plain.length > MAX_QUOTED ? `${plain.slice(0, MAX_QUOTED - 1)}…` : plain;
}

interface Wording {
  readonly subject: Record<SenderNoticeKind, (quoted: string) => string>;
  readonly noSubject: string;
  readonly addressRemoved: string;
  readonly headerList: (names: readonly string[]) => string;
  readonly intro: string;
  readonly found: (count: number, headers: string) => string;
  readonly foundNothingHere: string;
  readonly places: Record<ContentPlaceKind, string>;
  /** The content lists `count` external addresses in `places` (already joined). */
  readonly foundInContent: (count: number, places: string) => string;
  /** A bound stopped the check: the message was too complex to check in time. */
  readonly contentNotChecked: string;
  readonly contentFix: readonly string[];
  readonly labels: { readonly subject: string; readonly id: string; readonly received: string };
  readonly nextHeading: string;
  readonly next: Record<SenderNoticeKind, string>;
  readonly fixHeading: string;
  readonly fix: readonly string[];
  readonly ask: Record<SenderNoticeKind, string>;
}

const WORDING: Record<SenderNoticeLanguage, Wording> = {
  en: {
    subject: {
      held: (q) => `[mail-guard] Held for review, not sent: "${q}"`,
      rejected: (q) => `[mail-guard] Refused, not sent: "${q}"`,
      paused: () => '[mail-guard] Sending from your address is paused',
    },
    noSubject: '(no subject)',
    addressRemoved: '[address removed]',
    headerList: (names) => names.join(', '),
    intro: 'This is an automatic notice from mail-guard, the outbound mail gateway. Please do not reply to it.',
    found: (count, headers) =>
      `The message below showed the addresses of ${count} external recipient${count === 1 ? '' : 's'} to each other ` +
      `in ${headers}: everyone who received it could have seen everyone else's address.`,
    foundNothingHere: 'The message below exposed nobody itself, but earlier messages from your address did (see "What happens next").',
    places: { attachment: 'an attachment', forwarded: 'a forwarded message', body: 'the message text' },
    foundInContent: (count, places) =>
      `The message below lists the addresses of ${count} external ${count === 1 ? 'person' : 'people'} in ${places}: ` +
      'everyone who received it would have received that list.',
    contentNotChecked: 'The message below has more parts, nesting or attached data than mail-guard can check, so it was not sent unchecked.',
    contentFix: [
      'Remove the address list from the message (the attachment, the forwarded message or the pasted text); or',
      'share the list in a way that does not send it to every recipient (a file share with access control).',
    ],
    labels: { subject: 'Subject:   ', id: 'Message ID:', received: 'Received:  ' },
    nextHeading: 'What happens next',
    next: {
      held:
        'The message is held for review and has not been sent. A mail-guard operator will release or discard it. ' +
        'Other messages of the same send (same sender and subject) are held too; this notice comes once an hour per send, not once per message.',
      rejected:
        'The message was refused and has not been sent; no copy of it is kept. Other messages of the same send were refused too; ' +
        'this notice comes once an hour per send, not once per message.',
      paused:
        'Several messages from your address exposed recipients within a short time, so sending from your address is paused: ' +
        'every further message from it, including ones that expose nobody, is held for review (or deferred, so that your mail program ' +
        'tries again later) until an operator resets the pause.',
    },
    fixHeading: 'How to fix the send',
    fix: ['Put the recipients in Bcc, not in To or Cc; or', 'send one message per recipient (the individual or mail-merge sending of your newsletter tool).'],
    ask: {
      held: 'Whether the held message should go out or be discarded: ask your mail-guard operator, quoting the message ID above.',
      rejected: 'Then send it again.',
      paused: 'Once the send is fixed, ask your mail-guard operator to reset the pause, quoting the message ID above.',
    },
  },
  ja: {
    subject: {
      held: (q) => `【mail-guard】送信を保留しました（未送信）：「${q}」`,
      rejected: (q) => `【mail-guard】送信できませんでした（未送信）：「${q}」`,
      paused: () => '【mail-guard】このアドレスからの送信を一時停止しました',
    },
    noSubject: '（件名なし）',
    addressRemoved: '［アドレス省略］',
    headerList: (names) => names.join('、'),
    intro: '本メールは送信ゲートウェイ mail-guard からの自動通知です。このメールには返信しないでください。',
    found: (count, headers) =>
      `下記のメールは、社外の宛先 ${count} 件のメールアドレスが ${headers} ヘッダーに記載されており、` + '受信者全員が互いのアドレスを見られる状態でした。',
    foundNothingHere:
      '下記のメール自体には問題はありませんが、このアドレスから先に送信されたメールで宛先が見える状態のものが続きました（「今後の扱い」をご覧ください）。',
    places: { attachment: '添付ファイル', forwarded: '転送されたメール', body: '本文' },
    foundInContent: (count, places) =>
      `下記のメールは、${places}に社外の方 ${count} 名分のメールアドレスが含まれており、受信者全員にその一覧が届く状態でした。`,
    contentNotChecked:
      '下記のメールは、パートの数・入れ子・添付データが mail-guard で確認できる範囲を超えていたため、確認しないまま送信することはしませんでした。',
    contentFix: [
      'アドレスの一覧をメールから取り除いてください（添付ファイル、転送されたメール、本文に貼り付けた一覧）。',
      'または、一覧は受信者全員に届かない方法（アクセス権を設定したファイル共有など）で共有してください。',
    ],
    labels: { subject: '件名：', id: 'メッセージID：', received: '受付日時：' },
    nextHeading: '■ 今後の扱い',
    next: {
      held:
        'このメールは保留中で、まだ送信されていません。mail-guard の担当者が内容を確認のうえ、送信または破棄します。' +
        '同じ送信（同じ差出人・同じ件名）の他のメールも同様に保留されています。このお知らせは、送信ごとに 1 時間に 1 回のみお送りします。',
      rejected:
        'このメールは受け付けを拒否したため、送信されていません（控えも保管していません）。同じ送信の他のメールも同様です。' +
        'このお知らせは、送信ごとに 1 時間に 1 回のみお送りします。',
      paused:
        'このアドレスから、宛先が見える状態のメールが短時間に続けて送信されたため、このアドレスからの送信を一時停止しています。' +
        '担当者が解除するまで、問題のないメールも含めてすべて保留（またはメールソフトによる再送待ち）となります。',
    },
    fixHeading: '■ 送信し直す方法',
    fix: ['宛先は To や Cc ではなく、Bcc に入れてください。', 'または、受信者ごとに 1 通ずつ送信してください（一斉配信ツールの個別送信・差し込み機能など）。'],
    ask: {
      held: '保留中のメールを送信するか破棄するかは、mail-guard の担当者にご相談ください。その際は上記のメッセージIDをお伝えください。',
      rejected: '修正のうえ、改めて送信してください。',
      paused: '送信方法を修正したうえで、mail-guard の担当者に一時停止の解除をご依頼ください。その際は上記のメッセージIDをお伝えください。',
    },
  },
};

/** Header names as the analysis reports them; anything else is left out rather than quoted. */
const HEADER_NAME = /^[A-Za-z][A-Za-z0-9-]{0,40}$/;

function noticeText(input: SenderNoticeInput, quoted: string): string {
  const t = WORDING[input.language];
  const headers = t.headerList(input.exposingHeaders.filter((h) => HEADER_NAME.test(h)));
  const received = `${input.receivedAt.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
  const bullet = input.language === 'ja' ? '・' : '  - ';
  const content = input.content;
  const inContent = content?.violation ? t.foundInContent(content.externalCount, t.headerList(content.places.map((p) => t.places[p]))) : null;
  const notChecked = content?.bound && !content.violation ? t.contentNotChecked : null;
  const headersExposed = content === undefined ? input.exposedExternalCount > 0 : content.headerViolation;
  const found = [
    ...(headersExposed ? [t.found(input.exposedExternalCount, headers || 'To')] : []),
    ...(inContent ? [inContent] : []),
    ...(notChecked ? [notChecked] : []),
  ];
  // Bcc fixes headers only: a list in the content needs its own advice, both when both were found.
  const fix = [...(headersExposed || content === undefined ? t.fix : []), ...(content?.violation ? t.contentFix : [])];
  const lines = [
    t.intro,
    '',
    ...(found.length ? found : [t.foundNothingHere]),
    '',
    `  ${t.labels.subject} ${quoted}`,
    `  ${t.labels.id} ${input.id}`,
    `  ${t.labels.received} ${received}`,
    '',
    t.nextHeading,
    t.next[input.what],
    '',
    t.fixHeading,
    ...[...fix, t.ask[input.what]].map((line) => `${bullet}${line}`),
    '',
    '-- ',
    'mail-guard',
    '',
  ];
  // Canonical text/plain: CRLF line ends, also inside the base64.
  return lines.join('\r\n');
}

/** The notice as it goes upstream (MAIL FROM:<> to the sender): headers and a base64 text/plain; charset=utf-8 body. */
export async function buildSenderNotice(input: SenderNoticeInput): Promise<Buffer> {
  const t = WORDING[input.language];
  const quoted = input.subject === null ? t.noSubject : withoutAddresses(input.subject, t.addressRemoved) || t.noSubject;
  const domain = input.from.slice(input.from.lastIndexOf('@') + 1);
  const composer = new MailComposer({
    from: { name: 'mail-guard', address: input.from },
    to: { name: '', address: input.to },
    subject: t.subject[input.what](quoted),
    text: noticeText(input, quoted),
    textEncoding: 'base64',
    date: input.now ?? new Date(),
    messageId: `<${input.id}.notice@${domain}>`,
    headers: {
      // RFC 3834: an automatic reply; nobody (mail-guard included) answers it automatically.
      'Auto-Submitted': 'auto-replied',
      'X-Mail-Guard-Notice': input.id,
      'Content-Language': input.language,
    },
    xMailer: false,
    newline: '\r\n',
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return composer.compile().build();
}
