// Issue 8: the forms that showed several external addresses to every
// recipient and were answered 250. One table per class, several forms each;
// each row names the external addresses a mail client shows (Thunderbird,
// Python's email), and the analysis must see every one of them.
import Encoding from 'encoding-japanese';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { createAnalyser } from '../../../src/analysis/analyse.js';
import { normaliseLineEndings } from '../../../src/message/line-endings.js';
import { asInput, refusal } from '../../helpers/analysis.js';

const analyser = createAnalyser({
  internalDomains: ['example.co.jp', '*.example.co.jp'],
  freemailDomains: ['gmail.com'],
  maxAddresses: 10_000,
  maxHeaderBytes: 1_048_576,
  extraHeaders: ['Disposition-Notification-To'],
});
const ENVELOPE = { mailFrom: 'news@example.co.jp', rcptTo: ['a@ext1.com', 'b@ext2.com'] };

/** A whole message around these header lines (a From of one internal address first unless they bring their own). */
function analyse(headerLines: string | Buffer) {
  const lines = Buffer.isBuffer(headerLines) ? headerLines : Buffer.from(headerLines, 'utf8');
  const from = lines.toString('latin1').match(/^From:/im) ? '' : 'From: News <news@example.co.jp>\r\n';
  const message = Buffer.concat([Buffer.from(from), lines, Buffer.from('\r\nSubject: issue 8\r\n\r\nbody\r\n')]);
  return analyser(asInput(normaliseLineEndings(message)), ENVELOPE);
}
const external = (a: ReturnType<typeof analyse>) =>
  a.exposure.visible
    .filter((v) => !v.internal)
    .map((v) => v.address)
    .sort();

const TWO = ['a@ext1.com', 'b@ext2.com'];
const b64 = (bytes: Buffer) => bytes.toString('base64');
const jis = (text: string) => Buffer.from(Encoding.convert(Encoding.stringToCode(text), { to: 'JIS', from: 'UNICODE' }));

describe('class 1: encoded words in every charset a client decodes', () => {
  it.each([
    ['UTF-7, Q', 'To: =?utf-7?q?a+AEA-ext1.com, b+AEA-ext2.com?= <x@example.co.jp>'],
    ['UTF-7, B', `To: =?UTF-7?B?${b64(Buffer.from('a+AEA-ext1.com, b+AEA-ext2.com'))}?= <x@example.co.jp>`],
    ['UTF-7 split over two words', 'To: =?utf-7?q?a+AEA-ext1.com,?= =?utf-7?q?_b+AEA-ext2.com?= <x@example.co.jp>'],
    ['UTF-7 alias unicode-1-1-utf-7', 'To: =?unicode-1-1-utf-7?q?a+AEA-ext1.com_b+AEA-ext2.com?= <x@example.co.jp>'],
    ['UTF-16 with BOM', `To: =?utf-16?b?${b64(Buffer.from('\ufeffa@ext1.com, b@ext2.com', 'utf16le'))}?= <x@example.co.jp>`],
    ['UTF-16BE', `To: =?UTF-16BE?B?${b64(Buffer.from('a@ext1.com, b@ext2.com', 'utf16le').swap16())}?= <x@example.co.jp>`],
    ['UTF-16LE', `To: =?utf-16le?b?${b64(Buffer.from('a@ext1.com, b@ext2.com', 'utf16le'))}?= <x@example.co.jp>`],
    ['Shift_JIS full-width at sign', `To: =?shift_jis?b?${b64(iconv.encode('a＠ext1.com、b＠ext2.com', 'shift_jis'))}?= <x@example.co.jp>`],
    ['EUC-JP', `To: =?euc-jp?b?${b64(iconv.encode('山田 a@ext1.com b@ext2.com', 'euc-jp'))}?= <x@example.co.jp>`],
    ['ISO-2022-JP', `To: =?iso-2022-jp?b?${b64(jis('山田 a＠ext1.com b＠ext2.com'))}?= <x@example.co.jp>`],
    ['GB18030', `To: =?gb18030?b?${b64(iconv.encode('王 a@ext1.com b@ext2.com', 'gb18030'))}?= <x@example.co.jp>`],
    ['windows-1252 in Q, with spaces inside the word', 'To: =?windows-1252?q?a=40ext1.com, b=40ext2.com?= <x@example.co.jp>'],
    ['RFC 2231 language in the charset', 'To: =?utf-8*ja?q?a=40ext1.com_b=40ext2.com?= <x@example.co.jp>'],
    ['inside a quoted display name', 'To: "=?utf-7?q?a+AEA-ext1.com b+AEA-ext2.com?=" <x@example.co.jp>'],
    ['in a comment', 'To: x@example.co.jp (=?utf-7?q?a+AEA-ext1.com b+AEA-ext2.com?=)'],
  ])('%s', (_form, header) => {
    const a = analyse(header);
    expect(a.findings).toEqual([]);
    expect(external(a)).toEqual(TWO);
  });

  it.each([
    ['unknown charset', 'To: =?x-no-such-charset?q?a=40ext1.com?= <x@example.co.jp>'],
    ['no charset at all', 'To: =??q?a=40ext1.com?= <x@example.co.jp>'],
    ['a transfer encoding posing as a charset', 'To: =?base64?q?YUBleHQxLmNvbQ==?= <x@example.co.jp>'],
  ])('an encoded word nobody can decode is malformed (554 5.6.0), not "no addresses": %s', (_form, header) => {
    const a = analyse(header);
    expect(a.findings).toEqual([{ kind: 'malformed', why: expect.stringMatching(/charset no reader here can decode/) }]);
    expect(refusal(a)).toEqual({ code: 554, enhanced: '5.6.0' });
  });

  it('raw ISO-2022-JP escape sequences in an unencoded display name', () => {
    const header = Buffer.concat([Buffer.from('To: "'), jis('会員 a＠ext1．com, b＠ext2．com'), Buffer.from('" <x@example.co.jp>')]);
    expect(header.includes(0x1b)).toBe(true);
    const a = analyse(header);
    expect(a.findings).toEqual([]);
    expect(external(a)).toEqual(TWO);
  });

  it('an escape sequence that is not ISO-2022-JP is malformed', () => {
    const a = analyse('To: "\x1b$)Ca\x0e@\x0fext1.com" <x@example.co.jp>');
    expect(a.findings).toEqual([{ kind: 'malformed', why: 'an escape sequence that is not ISO-2022-JP' }]);
  });

  it('raw Shift_JIS bytes (not UTF-8) are read the ways a client may guess', () => {
    const header = Buffer.concat([Buffer.from('To: "'), iconv.encode('会員 a＠ext1．com b＠ext2．com', 'shift_jis'), Buffer.from('" <x@example.co.jp>')]);
    const a = analyse(header);
    expect(a.findings).toEqual([]);
    expect(external(a)).toEqual(TWO);
  });

  it('clean mail with Japanese display names still passes (ISO-2022-JP, Shift_JIS, UTF-8)', () => {
    const a = analyse(
      [
        `From: =?ISO-2022-JP?B?${b64(jis('広報部'))}?= <news@example.co.jp>`,
        `To: =?ISO-2022-JP?B?${b64(jis('山田 太郎'))}?= <a@ext1.com>`,
        `Cc: =?Shift_JIS?B?${b64(iconv.encode('鈴木 花子', 'shift_jis'))}?= <staff@example.co.jp>, =?UTF-8?B?${b64(Buffer.from('佐藤'))}?= <boss@example.co.jp>`,
      ].join('\r\n'),
    );
    expect(a.findings).toEqual([]);
    expect(external(a)).toEqual(['a@ext1.com']);
  });
});

describe('class 2: format characters and compatibility forms in address text', () => {
  const FORMAT = {
    ZWSP: '\u200b',
    ZWNJ: '\u200c',
    ZWJ: '\u200d',
    'word joiner': '\u2060',
    'soft hyphen': '\u00ad',
    LRM: '\u200e',
    RLM: '\u200f',
    RLO: '\u202e',
    LRE: '\u202a',
    'FSI isolate': '\u2068',
    BOM: '\ufeff',
  };
  it.each(Object.entries(FORMAT))('%s next to the @ and inside the domain', (_name, cf) => {
    const a = analyse(`To: "a${cf}@ext1.com, b@${cf}ext2${cf}.com" <x@example.co.jp>`);
    expect(a.findings).toEqual([]);
    expect(external(a)).toEqual(TWO);
  });

  it.each([
    ['full-width @ and .', 'a＠ext1．com, b＠ext2．com'],
    ['small commercial at U+FE6B, small full stop U+FE52', 'a\ufe6bext1\ufe52com, b\ufe6bext2\ufe52com'],
    ['one dot leader U+2024', 'a@ext1\u2024com, b@ext2\u2024com'],
    ['full-width letters', 'ａ＠ｅｘｔ１．ｃｏｍ, ｂ＠ｅｘｔ２．ｃｏｍ'],
    ['mixed with format characters', 'a\u200b\uff20ext1\u2060\ufe52com, b\u00ad@ext2\u2024com'],
  ])('%s', (_name, text) => {
    for (const header of [`To: "${text}" <x@example.co.jp>`, `To: =?utf-8?b?${b64(Buffer.from(text))}?= <x@example.co.jp>`]) {
      const a = analyse(header);
      expect(a.findings).toEqual([]);
      expect(external(a)).toEqual(TWO);
    }
  });
});

describe('class 3: an address written in a group name', () => {
  it.each([
    ['quoted group name', 'To: "a@ext1.com, b@ext2.com" :;'],
    ['closing quote directly before @', 'To: "a@ext1.com, b@ext2.com"@ :;'],
    ['closing quote before @ and a domain', 'To: "a@ext1.com, b@ext2.com"@example.co.jp :;'],
    ['as a quoted local part', 'To: "a@ext1.com, b@ext2.com"@example.co.jp'],
    ['group name as an atom list', 'To: a@ext1.com b@ext2.com: ;'],
    ['encoded group name', `To: =?utf-8?b?${b64(Buffer.from('a@ext1.com, b@ext2.com'))}?= :;`],
  ])('%s', (_name, header) => {
    const a = analyse(header);
    expect(a.findings).toEqual([]);
    expect(external(a)).toEqual(TWO);
  });
});

describe('class 4: headers beyond To and Cc that a client shows or replies to', () => {
  it.each([
    ['Reply-To', 'To: x@example.co.jp\r\nReply-To: a@ext1.com, b@ext2.com', ['Reply-To']],
    ['Mail-Followup-To', 'To: x@example.co.jp\r\nMail-Followup-To: a@ext1.com, b@ext2.com', ['Mail-Followup-To']],
    ['Resent-Bcc', 'To: x@example.co.jp\r\nResent-Bcc: a@ext1.com, b@ext2.com', ['Resent-Bcc']],
    ['From with several addresses', 'From: a@ext1.com, b@ext2.com\r\nTo: x@example.co.jp', ['From']],
    ['Sender with several addresses', 'Sender: a@ext1.com, b@ext2.com\r\nTo: x@example.co.jp', ['Sender']],
    ['From with a display name listing others', 'From: "a@ext1.com" <b@ext2.com>\r\nTo: x@example.co.jp', ['From']],
    ['two From headers', 'From: a@ext1.com\r\nFrom: b@ext2.com\r\nTo: x@example.co.jp', ['From']],
    ['policy.extraHeaders', 'To: x@example.co.jp\r\nDisposition-Notification-To: a@ext1.com, b@ext2.com', ['Disposition-Notification-To']],
    ['reply-to in encoded words', 'To: x@example.co.jp\r\nReply-To: =?utf-7?q?a+AEA-ext1.com?=, =?utf-8?q?b=40ext2.com?= <x@example.co.jp>', ['Reply-To']],
  ])('%s', (_name, header, headers) => {
    const a = analyse(header);
    expect(a.findings).toEqual([]);
    expect(external(a)).toEqual(TWO);
    // The report says which header each address came from.
    for (const v of a.exposure.visible.filter((x) => !x.internal)) expect(v.headers).toEqual(headers);
    expect(a.exposure.exposingHeaders).toEqual(headers);
  });

  it('a From or Sender with one address is the author, not counted', () => {
    const a = analyse('From: "A. Member" <a@ext1.com>\r\nSender: "a@ext1.com" <a@ext1.com>\r\nTo: x@example.co.jp');
    expect(a.exposure.visible.map((v) => v.address)).toEqual(['x@example.co.jp']);
    expect(a.headerFrom?.address).toBe('a@ext1.com');
  });
});
