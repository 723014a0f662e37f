// Messages whose address lists travel outside their own header block (issue
// 14): a forwarded newsletter, a members.csv attachment, a many-part message.
// Built here so the wiring tests know every address they must not see.
import { crlfBytes } from './crlf.js';

export const SENDER = 'alice@example.co.jp';
/** The one external envelope recipient of these messages (not counted by the scan). */
export const RECIPIENT = 'partner@partner.example';

/** `n` external member addresses, distinct. */
export const members = (n: number, domain = 'members.example'): string[] => Array.from({ length: n }, (_, i) => `member${i + 1}@${domain}`);

const head = (subject: string, contentType: string) => [
  `From: Alice <${SENDER}>`,
  `To: ${RECIPIENT}`,
  `Subject: ${subject}`,
  'Date: Mon, 03 Nov 2025 10:00:00 +0900',
  'Message-ID: <content-wiring@example.co.jp>',
  'MIME-Version: 1.0',
  `Content-Type: ${contentType}`,
];

/**
 * The mistaken newsletter, forwarded: its To list of `inner` members inside a
 * message/rfc822 part (part 2). `disposition: inline` is what makes mailparser
 * print the inner headers into the preview text.
 */
export function forwardedNewsletter(inner: readonly string[], disposition: 'inline' | 'attachment' = 'inline'): Buffer {
  return crlfBytes(
    ...head('Fwd: Members newsletter, November', 'multipart/mixed; boundary="fwd-b1"'),
    '',
    '--fwd-b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Forwarding the newsletter below, see the attached message.',
    '',
    '--fwd-b1',
    'Content-Type: message/rfc822',
    `Content-Disposition: ${disposition}`,
    '',
    'From: News <news@example.co.jp>',
    `To: ${inner.join(',\r\n ')}`,
    'Subject: Members newsletter, November',
    'Date: Sun, 02 Nov 2025 09:00:00 +0900',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Dear members, the November issue is out.',
    '',
    '--fwd-b1--',
    '',
  );
}

/** A members.csv attachment with one row per address (part 2). */
/** A ZIP archive part (part 3 of membersCsv with `withArchive`): listed as not inspected. */
const ARCHIVE_PART = [
  '--csv-b1',
  'Content-Type: application/zip; name="backup.zip"',
  'Content-Disposition: attachment; filename="backup.zip"',
  'Content-Transfer-Encoding: base64',
  '',
  // An empty ZIP: the end-of-central-directory record alone.
  Buffer.from([0x50, 0x4b, 0x05, 0x06, ...new Array<number>(18).fill(0)]).toString('base64'),
  '',
];

export function membersCsv(addresses: readonly string[], filename = 'members.csv', withArchive = false): Buffer {
  const csv = ['name,email', ...addresses.map((a, i) => `Member ${i + 1},${a}`)].join('\r\n');
  return crlfBytes(
    ...head('The member export', 'multipart/mixed; boundary="csv-b1"'),
    '',
    '--csv-b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Here is the export you asked for.',
    '',
    '--csv-b1',
    `Content-Type: text/csv; charset=utf-8; name="${filename}"`,
    `Content-Disposition: attachment; filename="${filename}"`,
    'Content-Transfer-Encoding: base64',
    '',
    ...(Buffer.from(csv, 'utf8')
      .toString('base64')
      .match(/.{1,76}/g) ?? []),
    '',
    ...(withArchive ? ARCHIVE_PART : []),
    '--csv-b1--',
    '',
  );
}

/** A multipart/mixed message of `parts` small text parts with no address in them (1 + parts MIME parts in all). */
export function manyParts(parts: number): Buffer {
  const body: string[] = [];
  for (let i = 1; i <= parts; i++) body.push('--many-b1', 'Content-Type: text/plain; charset=utf-8', '', `Part ${i}, write to someone${i}@ext${i}.example`, '');
  return crlfBytes(...head('Many parts', 'multipart/mixed; boundary="many-b1"'), '', ...body, '--many-b1--', '');
}
