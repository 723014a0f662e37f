// The messages of the content-scanning scenarios (issue 14), the same bytes on
// every run: a seeded generator, no clock. Each is a whole CRLF message from
// SENDER to RECIPIENT (the one external address of its header block), so the
// header policy passes it and only the content scan could hold it:
//
//   text  "5 KB text": a plain-text newsletter with two internal addresses in
//         its footer; the pre-scan sees at most 2 at-signs and decodes nothing.
//   csv   "200 KB with a 30-row CSV attachment": a short body, members.csv
//         (base64; 30 rows, 12 external and 18 internal addresses: more
//         at-signs than maxAddresses 20, so the full scan runs, and fewer
//         external addresses than 20, so it passes) and a screenshot (random
//         bytes as image/png) that makes up the 200 KB.
//   pdf   "5 MB PDF-like attachment": a short body and random bytes starting
//         with %PDF- as application/pdf, base64, 5 MB on the wire like the
//         5 MB scenario (so the same RSS bound applies).
import { RECIPIENT, SENDER } from './messages.mjs';

const KB = 1024;
const MB = 1024 * KB;
export const CONTENT_MESSAGE_SIZES = Object.freeze({ text: 5 * KB, csv: 200 * KB, pdf: 5 * MB });
export const CONTENT_MAX_ADDRESSES = 20;

/** xorshift32: the same "random" bytes on every run. */
function randomBytes(length, seed) {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const base64Lines = (bytes) => bytes.toString('base64').replace(/.{1,76}/g, '$&\r\n');
/** Raw bytes whose base64 (76-column CRLF lines) takes `encodedLength` bytes, or a little less. */
const rawForEncoded = (encodedLength) => Math.max(0, Math.floor(((encodedLength * 76) / 78 / 4) * 3));

function headerBlock(subject, contentType) {
  return [
    `From: =?UTF-8?B?${Buffer.from('広報部').toString('base64')}?= <${SENDER}>`,
    `To: <${RECIPIENT}>`,
    `Subject: ${subject}`,
    'Date: Tue, 01 Dec 2026 10:15:00 +0900',
    `Message-ID: <content-bench.${subject.length}@example.co.jp>`,
    'MIME-Version: 1.0',
    `Content-Type: ${contentType}`,
  ];
}

const PARAGRAPH =
  'This month our team visited three partner offices and opened the new support desk. ' +
  'The schedule for the spring seminar is below; seats are limited, so please register early. ' +
  'Thank you for reading, and for your continued support.';

function textMessage(size) {
  const head = [...headerBlock('Monthly newsletter, December', 'text/plain; charset=us-ascii'), 'Content-Transfer-Encoding: 7bit', '', ''].join('\r\n');
  const footer = '\r\n--\r\nQuestions: info@example.co.jp\r\nTo stop receiving this newsletter: unsubscribe@example.co.jp\r\n';
  let body = '';
  // Whole paragraphs up to the size: a few bytes over it rather than a cut line.
  for (let n = 1; head.length + body.length + footer.length < size; n++) body += `${n}. ${PARAGRAPH}\r\n\r\n`;
  return Buffer.from(head + body + footer, 'latin1');
}

function membersCsv() {
  const rows = ['name,email,company'];
  for (let i = 1; i <= 30; i++) {
    // Every row of 1..12 external, at three partner domains; 13..30 internal.
    const address = i <= 12 ? `member${i}@${['partner.example.com', 'client.example.net', 'vendor.example.org'][i % 3]}` : `staff${i}@example.co.jp`;
    rows.push(`Member ${i},${address},${i <= 12 ? 'Partner KK' : 'Example Co.'}`);
  }
  return Buffer.from(rows.join('\r\n') + '\r\n', 'utf8');
}

function multipart({ subject, size, attachments, seed }) {
  const boundary = '----=_Part_bench_content';
  const head = [...headerBlock(subject, `multipart/mixed; boundary="${boundary}"`), '', ''].join('\r\n');
  const text = [
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
    '',
    'Hello,',
    '',
    'please find the files attached. Reply to this message with any questions.',
    '',
    'Yamada',
    '',
  ].join('\r\n');
  const parts = attachments.map(
    ({ type, filename, bytes }) =>
      [
        `--${boundary}`,
        `Content-Type: ${type}; name="${filename}"`,
        `Content-Disposition: attachment; filename="${filename}"`,
        'Content-Transfer-Encoding: base64',
        '',
        '',
      ].join('\r\n') + (bytes ? base64Lines(bytes) : ''),
  );
  const end = `--${boundary}--\r\n`;
  // The last attachment is the filler: random bytes sized to bring the message to `size`.
  const fixed = head.length + text.length + parts.reduce((n, p) => n + p.length, 0) + end.length;
  const filler = randomBytes(rawForEncoded(size - fixed), seed);
  parts[parts.length - 1] += base64Lines(filler);
  return Buffer.from(head + text + parts.join('') + end, 'latin1');
}

function csvMessage(size) {
  return multipart({
    subject: 'Members for the partner seminar',
    size,
    seed: 0x2c5f,
    attachments: [
      { type: 'text/csv; charset=utf-8', filename: 'members.csv', bytes: membersCsv() },
      { type: 'image/png', filename: 'screenshot.png', bytes: null },
    ],
  });
}

function pdfMessage(size) {
  const message = multipart({
    subject: 'Quotation (PDF)',
    size,
    seed: 0x9d1,
    attachments: [{ type: 'application/pdf', filename: 'quotation.pdf', bytes: null }],
  });
  // PDF-like: the attachment starts with the PDF magic ("%PDF-1.7\n" is "JVBERi0xLjcK" in base64, 12 characters).
  const at = message.indexOf('\r\n\r\n', message.indexOf('filename="quotation.pdf"')) + 4;
  message.write('JVBERi0xLjcK', at, 'latin1');
  return message;
}

const BUILDERS = { text: textMessage, csv: csvMessage, pdf: pdfMessage };

/** The whole message, CRLF line endings, no dot-stuffing. */
export function contentMessage(kind) {
  return BUILDERS[kind](CONTENT_MESSAGE_SIZES[kind]);
}

/** The same message with LF line endings: smtp-source -F sends each line of the file with CRLF (and dot-stuffs it). */
export function contentMessageFile(kind) {
  return Buffer.from(contentMessage(kind).toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
}
