import PostalMime from 'postal-mime';
import { describe, expect, it } from 'vitest';
import { buildSenderNotice, withoutAddresses, type SenderNoticeInput } from '../../../src/actions/sender-notice-message.js';
import { autoSubmittedValues } from '../../../src/actions/sender-notifier.js';

const base: SenderNoticeInput = {
  id: '01JD3Y5Z7Q8W9E0R1T2Y3U4I5O',
  what: 'held',
  from: 'mail-guard@example.co.jp',
  to: 'news@example.co.jp',
  subject: 'November newsletter',
  receivedAt: new Date('2026-11-02T01:23:45.678Z'),
  exposedExternalCount: 831,
  exposingHeaders: ['To', 'Cc'],
  language: 'en',
  now: new Date('2026-11-02T01:24:00Z'),
};

async function parsed(input: Partial<SenderNoticeInput>) {
  const raw = await buildSenderNotice({ ...base, ...input });
  const email = await PostalMime.parse(raw);
  const header = raw.toString('latin1').slice(0, raw.indexOf('\r\n\r\n'));
  return { raw, email, header, text: email.text ?? '' };
}

describe('the sender notice', () => {
  it('English, held: headers of an automatic reply from notify.from to the sender, base64 UTF-8 text/plain', async () => {
    const { raw, email, header, text } = await parsed({});
    expect(email.from).toEqual({ name: 'mail-guard', address: 'mail-guard@example.co.jp' });
    expect(email.to).toEqual([{ name: '', address: 'news@example.co.jp' }]);
    expect(email.subject).toBe('[mail-guard] Held for review, not sent: "November newsletter"');
    expect(email.messageId).toBe('<01JD3Y5Z7Q8W9E0R1T2Y3U4I5O.notice@example.co.jp>');
    expect(header).toMatch(/^Auto-Submitted: auto-replied$/m);
    expect(header).toMatch(/^X-Mail-Guard-Notice: 01JD3Y5Z7Q8W9E0R1T2Y3U4I5O$/m);
    expect(header).toMatch(/^Content-Type: text\/plain; charset=utf-8$/im);
    expect(header).toMatch(/^Content-Transfer-Encoding: base64$/m);
    expect(header).toMatch(/^Date: Mon, 02 Nov 2026 01:24:00 \+0000$/m);
    // Every line ends in CRLF, nothing is 8-bit on the wire.
    expect(raw.toString('latin1').replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    expect([...raw].every((b) => b < 0x80)).toBe(true);
    expect(text).toContain('showed the addresses of 831 external recipients to each other in To, Cc');
    expect(text).toContain('Message ID: 01JD3Y5Z7Q8W9E0R1T2Y3U4I5O');
    expect(text).toContain('Received:   2026-11-02 01:23:45 UTC');
    expect(text).toContain('held for review and has not been sent');
    expect(text).toContain('Put the recipients in Bcc');
    expect(text).toContain('send one message per recipient');
    expect(text).toContain('ask your mail-guard operator');
  });

  it('a list in the content: says where in kinds of place and how to fix it, not Bcc, in both languages', async () => {
    const content = { externalCount: 832, places: ['attachment', 'forwarded'] as const, violation: true, bound: false, headerViolation: false };
    const en = await parsed({ exposedExternalCount: 0, exposingHeaders: [], content: { ...content, places: [...content.places] } });
    expect(en.text).toContain('lists the addresses of 832 external people in an attachment, a forwarded message');
    expect(en.text).toContain('Remove the address list from the message');
    expect(en.text).not.toContain('Bcc');
    expect(en.text).not.toContain('exposed nobody');
    const ja = await parsed({ language: 'ja', exposedExternalCount: 0, exposingHeaders: [], content: { ...content, places: [...content.places] } });
    expect(ja.text).toContain('添付ファイル、転送されたメールに社外の方 832 名分のメールアドレスが含まれており');
    expect(ja.text).toContain('アドレスの一覧をメールから取り除いてください');
    expect(ja.text).not.toContain('Bcc');
  });

  it('headers and content both: both findings and both fixes; a bound alone: that it could not be checked', async () => {
    const both = await parsed({ content: { externalCount: 40, places: ['body'], violation: true, bound: false, headerViolation: true } });
    expect(both.text).toContain('showed the addresses of 831 external recipients to each other in To, Cc');
    expect(both.text).toContain('lists the addresses of 40 external people in the message text');
    expect(both.text).toContain('Put the recipients in Bcc');
    expect(both.text).toContain('Remove the address list from the message');
    const bound = await parsed({
      exposedExternalCount: 0,
      exposingHeaders: [],
      content: { externalCount: 3, places: ['attachment'], violation: false, bound: true, headerViolation: false },
    });
    expect(bound.text).toContain('more parts, nesting or attached data than mail-guard can check');
    expect(bound.text).not.toContain('Remove the address list');
    expect(bound.text).not.toContain('Bcc');
  });

  it('Japanese: an RFC 2047 encoded subject and body in business Japanese, for each kind', async () => {
    const held = await parsed({ language: 'ja' });
    expect(held.header).toMatch(/^Subject: =\?UTF-8\?B\?/m);
    expect(held.email.subject).toBe('【mail-guard】送信を保留しました（未送信）：「November newsletter」');
    expect(held.header).toMatch(/^Content-Language: ja$/m);
    expect(held.text).toContain('社外の宛先 831 件のメールアドレスが To、Cc ヘッダーに記載されており');
    expect(held.text).toContain('このメールは保留中で、まだ送信されていません。');
    expect(held.text).toContain('宛先は To や Cc ではなく、Bcc に入れてください。');
    expect(held.text).toContain('受信者ごとに 1 通ずつ送信してください');
    expect(held.text).toContain('メッセージID： 01JD3Y5Z7Q8W9E0R1T2Y3U4I5O');

    const rejected = await parsed({ language: 'ja', what: 'rejected' });
    expect(rejected.email.subject).toBe('【mail-guard】送信できませんでした（未送信）：「November newsletter」');
    expect(rejected.text).toContain('受け付けを拒否したため、送信されていません');

    const paused = await parsed({ language: 'ja', what: 'paused', exposedExternalCount: 0, exposingHeaders: [] });
    expect(paused.email.subject).toBe('【mail-guard】このアドレスからの送信を一時停止しました');
    expect(paused.text).toContain('下記のメール自体には問題はありません');
    expect(paused.text).toContain('担当者が解除するまで、問題のないメールも含めてすべて保留');
    expect(paused.text).toContain('一時停止の解除をご依頼ください');
  });

  it('English, rejected and paused say what happens next', async () => {
    const rejected = await parsed({ what: 'rejected' });
    expect(rejected.email.subject).toBe('[mail-guard] Refused, not sent: "November newsletter"');
    expect(rejected.text).toContain('refused and has not been sent; no copy of it is kept');
    const paused = await parsed({ what: 'paused' });
    expect(paused.email.subject).toBe('[mail-guard] Sending from your address is paused');
    expect(paused.text).toContain('until an operator resets the pause');
    expect(paused.text).toContain('showed the addresses of 831 external recipients');
  });

  it('quotes no address from an adversarial subject, in either language, decoded', async () => {
    const subject =
      'Re: list member1@gmail.com, ＭＥＭＢＥＲ2＠yahoo.co.jp, member3\u200b@docomo.ne.jp, member4 @ example.net, =?UTF-8?B?x?= m5﹫members-mail.org\r\nBcc: x@y.example';
    for (const language of ['en', 'ja'] as const) {
      const { email, text, header } = await parsed({ language, subject });
      // The body decoded; the header block as it is on the wire (its encoded words are base64 too, so decoded in email.subject).
      const decoded = `${email.subject}\n${text}\n${header.replace(/=\?UTF-8\?B\?[^?]*\?=/g, '')}`.normalize('NFKC').toLowerCase();
      for (const leaked of ['member1', 'member2', 'member3', 'member4', 'm5', 'gmail', 'yahoo', 'docomo', 'example.net', 'members-mail', 'x@y'])
        expect(decoded, `${language}: ${leaked}`).not.toContain(leaked);
      // The only address-shaped text in the notice: its From, its reader and its own Message-ID.
      const own = ['mail-guard@example.co.jp', 'news@example.co.jp', '01jd3y5z7q8w9e0r1t2y3u4i5o.notice@example.co.jp'];
      expect(new Set(decoded.match(/[^\s<>"'()]+@[^\s<>"'()]+/g))).toEqual(new Set(own));
      expect(email.subject).toContain(language === 'ja' ? '［アドレス省略］' : '[address removed]');
      expect(email.headers.filter((h) => h.key === 'bcc')).toEqual([]);
    }
  });

  it('names no subject it was not given, and a missing one as such', async () => {
    expect((await parsed({ subject: null })).email.subject).toBe('[mail-guard] Held for review, not sent: "(no subject)"');
    expect((await parsed({ subject: 'a@b.example', language: 'ja' })).email.subject).toBe('【mail-guard】送信を保留しました（未送信）：「［アドレス省略］」');
  });
});

describe('withoutAddresses', () => {
  it('keeps ordinary text, bounds its length and puts it on one line', () => {
    expect(withoutAddresses('11月のお知らせ　（会員向け）', '-')).toBe('11月のお知らせ (会員向け)');
    expect(withoutAddresses('a\r\nb\tc', '-')).toBe('a b c');
    expect(withoutAddresses('x'.repeat(500), '-')).toHaveLength(120);
  });
});

describe('autoSubmittedValues (RFC 3834)', () => {
  const head = (lines: string[]) => Buffer.from([...lines, '', 'body Auto-Submitted: auto-generated'].join('\r\n'));
  it('reads every Auto-Submitted field of the header block, folded, commented, in any case', () => {
    expect(autoSubmittedValues(head(['From: a@b', 'Subject: x']))).toEqual([]);
    expect(autoSubmittedValues(head(['auto-submitted: No', 'Subject: x']))).toEqual(['no']);
    expect(autoSubmittedValues(head(['Auto-Submitted:\r\n  auto-generated (by a robot); owner=x']))).toEqual(['auto-generated']);
    expect(autoSubmittedValues(head(['Auto-Submitted: no', 'AUTO-SUBMITTED: auto-replied']))).toEqual(['no', 'auto-replied']);
  });
});
