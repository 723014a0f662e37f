import { describe, expect, it } from 'vitest';
import { createAnalyser } from '../../../src/analysis/analyse.js';
import { parseHeaderBlock } from '../../../src/analysis/header-block.js';
import { rewriteBreaksDkim, rewriteRecipients } from '../../../src/actions/rewrite-recipients.js';
import { asInput } from '../../helpers/analysis.js';
import { crlf, crlfBytes } from '../../helpers/crlf.js';

const analyse = createAnalyser({ internalDomains: ['example.co.jp'], freemailDomains: [], maxAddresses: 1000, maxHeaderBytes: 1 << 20 });
const noSender = (): boolean => false;
const rewriteVisibleRecipients = (message: Buffer, to: string, isSender = noSender): Buffer =>
  rewriteRecipients(message, analyse(asInput(message), { mailFrom: '', rcptTo: [] }), to, isSender);

describe('rewriteVisibleRecipients', () => {
  const body = 'Hello,\r\n.leading dot stays\r\nTo: not-a-header@ext.com in the body\r\n';
  const message = crlfBytes(
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
  );

  it('replaces every visible address header with one To where the first stood, body untouched', () => {
    const out = rewriteVisibleRecipients(message, '<a@ext1.com>');
    const text = out.toString('utf8');
    expect(text).toBe(crlf('From: news@example.co.jp', 'To: <a@ext1.com>', 'Subject: hi', 'Message-ID: <m1@example.co.jp>', '', body));
    expect(out.subarray(out.length - Buffer.byteLength(body)).equals(Buffer.from(body))).toBe(true);
  });

  it('adds a To at the end of the header block when there was none', () => {
    const bare = crlfBytes('From: x@example.co.jp', 'Subject: s', '', 'body');
    const out = rewriteVisibleRecipients(bare, 'undisclosed-recipients:;');
    expect(out.toString()).toBe(crlf('From: x@example.co.jp', 'Subject: s', 'To: undisclosed-recipients:;', '', 'body'));
  });

  it('knows when a DKIM signature covers a removed header', () => {
    const signed = crlfBytes(
      'DKIM-Signature: v=1; a=rsa-sha256; d=example.co.jp; s=s1;',
      ' h=From:To:Subject; bh=x; b=y',
      'From: a@example.co.jp',
      'To: b@ext.com',
      '',
      'x',
    );
    expect(rewriteBreaksDkim(parseHeaderBlock(signed, 1 << 20))).toBe(true);
    const notCovering = crlfBytes('DKIM-Signature: v=1; d=example.co.jp; h=From:Subject; b=y', 'From: a@example.co.jp', 'To: b@ext.com', '', 'x');
    expect(rewriteBreaksDkim(parseHeaderBlock(notCovering, 1 << 20))).toBe(false);
  });
});
