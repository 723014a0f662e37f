import { describe, expect, it } from 'vitest';
import { createAnalyser } from '../../../src/analysis/analyse.js';
import { parseHeaderBlock } from '../../../src/analysis/header-block.js';
import { rewriteBreaksDkim, rewriteRecipients } from '../../../src/actions/rewrite-recipients.js';
import { asInput } from '../../helpers/analysis.js';

const analyse = createAnalyser({ internalDomains: ['example.co.jp'], freemailDomains: [], maxAddresses: 1000, maxHeaderBytes: 1 << 20 });
const noSender = (): boolean => false;
const rewriteVisibleRecipients = (message: Buffer, to: string, isSender = noSender): Buffer =>
  rewriteRecipients(message, analyse(asInput(message), { mailFrom: '', rcptTo: [] }), to, isSender);

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');

describe('rewriteVisibleRecipients', () => {
  const body = 'Hello,\r\n.leading dot stays\r\nTo: not-a-header@ext.com in the body\r\n';
  const message = crlf([
    'From: news@example.co.jp',
    'To: a@ext1.com,',
    '  b@ext2.com',
    'Subject: hi',
    'Cc: c@ext3.com',
    'Resent-To: d@ext4.com',
    'Bcc: e@ext5.com',
    'Message-ID: <m1@example.co.jp>',
    '',
    body,
  ]);

  it('replaces every visible address header with one To where the first stood, body untouched', () => {
    const out = rewriteVisibleRecipients(message, '<a@ext1.com>');
    const text = out.toString('utf8');
    expect(text).toBe(
      ['From: news@example.co.jp', 'To: <a@ext1.com>', 'Subject: hi', 'Message-ID: <m1@example.co.jp>', '', body].join('\r\n'),
    );
    expect(out.subarray(out.length - Buffer.byteLength(body)).equals(Buffer.from(body))).toBe(true);
  });

  it('adds a To at the end of the header block when there was none', () => {
    const bare = crlf(['From: x@example.co.jp', 'Subject: s', '', 'body']);
    const out = rewriteVisibleRecipients(bare, 'undisclosed-recipients:;');
    expect(out.toString()).toBe(['From: x@example.co.jp', 'Subject: s', 'To: undisclosed-recipients:;', '', 'body'].join('\r\n'));
  });

  it('knows when a DKIM signature covers a removed header', () => {
    const signed = crlf(['DKIM-Signature: v=1; a=rsa-sha256; d=example.co.jp; s=s1;', ' h=From:To:Subject; bh=x; b=y', 'From: a@example.co.jp', 'To: b@ext.com', '', 'x']);
    expect(rewriteBreaksDkim(parseHeaderBlock(signed, 1 << 20))).toBe(true);
    const notCovering = crlf(['DKIM-Signature: v=1; d=example.co.jp; h=From:Subject; b=y', 'From: a@example.co.jp', 'To: b@ext.com', '', 'x']);
    expect(rewriteBreaksDkim(parseHeaderBlock(notCovering, 1 << 20))).toBe(false);
  });
});
