// Issue 8, "what leaves": through a running mail-guard to a recording
// upstream, every header of every copy is read, and no copy may name a member
// it must not. Split copies used to keep Reply-To and Mail-Followup-To, so
// every member still saw every other member.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream, type RecordedMessage, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const MEMBERS = ['a.member@ext-one.example', 'b.member@ext-two.example', 'c.member@ext-three.example'];
const SENDER = 'news@example.co.jp';

let upstream: RecordingUpstream | undefined;
let guard: RunningMailGuard | undefined;
afterEach(async () => {
  await guard?.stop();
  await upstream?.close();
  guard = undefined;
  upstream = undefined;
});

async function start(action: 'split' | 'bcc' | 'reject') {
  upstream = await startRecordingUpstream();
  guard = await startMailGuard({
    upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 2 },
    internalDomains: ['example.co.jp', '*.example.co.jp'],
    policy: { action },
  });
  return { upstream, guard };
}

/** The header block of a copy as the recipient gets it, unfolded and lower-cased for searching. */
const headerText = (copy: RecordedMessage): string => {
  const raw = copy.raw.toString('utf8');
  return raw
    .slice(0, raw.indexOf('\r\n\r\n'))
    .replace(/\r\n[ \t]/g, ' ')
    .toLowerCase();
};
const bodyOf = (copy: RecordedMessage): string => copy.raw.toString('utf8').slice(copy.raw.toString('utf8').indexOf('\r\n\r\n'));

/** A newsletter that lists every member in every header a client shows or replies to. */
const newsletter = (extra: string[] = []) =>
  Buffer.from(
    crlf(
      `From: Newsletter <${SENDER}>`,
      `To: ${MEMBERS.join(', ')}`,
      `Reply-To: ${MEMBERS.join(', ')}`,
      `Mail-Followup-To: ${MEMBERS.join(',\r\n ')}`,
      `Resent-Bcc: ${MEMBERS[2]}`,
      `Cc: =?utf-7?q?${MEMBERS[0]!.replace('@', '+AEA-')}?= <staff@example.co.jp>`,
      ...extra,
      'Subject: December news',
      'Message-ID: <dec@example.co.jp>',
      '',
      'Hello members.',
      '',
    ),
    'utf8',
  );

describe('split copies name only their own recipient', () => {
  it('every header of every copy: no other member anywhere; body byte for byte', async () => {
    const { upstream, guard } = await start('split');
    const message = newsletter();
    const result = await sendOnce(guard.smtpPort, SENDER, MEMBERS, message);
    expect(result.final).toMatch(/^250 2\.0\.0 3 of 3 copies accepted upstream, one per recipient \[[0-9A-Z]{26}\]$/);
    expect(upstream.messages).toHaveLength(3);
    for (const copy of upstream.messages) {
      expect(copy.rcptTo).toHaveLength(1);
      const own = copy.rcptTo[0]!;
      const header = headerText(copy);
      expect(header).toContain(`to: <${own}>`);
      for (const other of MEMBERS.filter((m) => m !== own)) expect(header).not.toContain(other.split('@')[0]);
      // Reply-To and Mail-Followup-To listed members: gone, not emptied.
      expect(header).not.toMatch(/^(reply-to|mail-followup-to|resent-bcc):/m);
      expect(header).toContain('from: newsletter <news@example.co.jp>');
      expect(header).toContain('subject: december news');
      expect(bodyOf(copy)).toBe(bodyOf({ ...copy, raw: message } as RecordedMessage));
    }
  });

  it('a harmless Reply-To (the sender, or staff) stays in every copy', async () => {
    const { upstream, guard } = await start('split');
    const message = Buffer.from(
      crlf(`From: ${SENDER}`, `To: ${MEMBERS.join(', ')}`, `Reply-To: Desk <desk@example.co.jp>, ${SENDER}`, 'Subject: s', '', 'x', ''),
      'utf8',
    );
    const result = await sendOnce(guard.smtpPort, SENDER, MEMBERS, message);
    expect(result.final).toMatch(/^250 /);
    expect(upstream.messages).toHaveLength(3);
    for (const copy of upstream.messages) expect(headerText(copy)).toContain(`reply-to: desk <desk@example.co.jp>, ${SENDER}`);
  });

  it('a copy that would still name the others (a From listing the members) is not sent: held, logged, counted', async () => {
    const { upstream, guard } = await start('split');
    const message = Buffer.from(crlf(`From: ${MEMBERS.join(', ')}`, `Sender: ${SENDER}`, `To: ${MEMBERS.join(', ')}`, 'Subject: s', '', 'x', ''), 'utf8');
    const result = await sendOnce(guard.smtpPort, SENDER, MEMBERS, message);
    expect(result.final).toMatch(/^250 2\.0\.0 held for review [0-9A-Z]{26}$/);
    expect(upstream.transactions).toBe(0);
    const line = guard.logs.find((l) => l.msg === 'message handled')!;
    expect(line).toMatchObject({
      action: 'quarantine',
      withheld: { form: 'split', reason: 'a split copy would still show 2 other external recipient(s) in From' },
    });
    expect(JSON.stringify(line)).not.toContain('member@');
    // The reviewer sees why in the held record.
    const id = /held for review ([0-9A-Z]{26})$/.exec(result.final)![1]!;
    const record = JSON.parse(await readFile(join(guard.storePath, 'records', id, 'record.json'), 'utf8')) as {
      status: string;
      history: Array<{ note: string }>;
    };
    expect(record.status).toBe('held');
    expect(record.history[0]!.note).toBe('held instead of sent as split: a split copy would still show 2 other external recipient(s) in From');
    const metrics = await (await fetch(`http://127.0.0.1:${guard.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/^mailguard_copies_withheld_total\{form="split"\} 1$/m);
    expect(metrics).toMatch(/^mailguard_copies_withheld_total\{form="bcc"\} 0$/m);
  });
});

describe('the bcc copy names no external recipient', () => {
  it('one transaction to every member; its header holds none of them', async () => {
    const { upstream, guard } = await start('bcc');
    const result = await sendOnce(guard.smtpPort, SENDER, MEMBERS, newsletter());
    expect(result.final).toMatch(/^250 /);
    expect(upstream.messages).toHaveLength(1);
    const copy = upstream.messages[0]!;
    expect(copy.rcptTo).toEqual(MEMBERS);
    const header = headerText(copy);
    expect(header).toContain('to: undisclosed-recipients:;');
    for (const member of MEMBERS) expect(header).not.toContain(member.split('@')[0]);
    // The UTF-7 Cc named a member in its display name: the Cc went with the other recipient headers.
    expect(header).not.toContain('utf-7');
  });

  it('a member in a display name of a kept From holds the bcc copy back', async () => {
    const { upstream, guard } = await start('bcc');
    const message = Buffer.from(crlf(`From: "for ${MEMBERS[0]}" <${SENDER}>`, `To: ${MEMBERS.join(', ')}`, 'Subject: s', '', 'x', ''), 'utf8');
    const result = await sendOnce(guard.smtpPort, SENDER, MEMBERS, message);
    expect(result.final).toMatch(/^250 2\.0\.0 held for review /);
    expect(upstream.transactions).toBe(0);
    expect(guard.logs.find((l) => l.msg === 'message handled')).toMatchObject({ withheld: { form: 'bcc' } });
  });
});

describe('reject names the headers that exposed', () => {
  it.each([
    ['Reply-To', `To: ${SENDER}\r\nReply-To: ${MEMBERS.join(', ')}`, 'Reply-To'],
    ['Mail-Followup-To', `To: ${SENDER}\r\nMail-Followup-To: ${MEMBERS.join(', ')}`, 'Mail-Followup-To'],
    ['UTF-7 encoded word', `To: =?utf-7?q?${MEMBERS.map((m) => m.replace('@', '+AEA-')).join(', ')}?= <${SENDER}>`, 'To'],
    ['zero-width space next to the @', `To: "${MEMBERS.map((m) => m.replace('@', '\u200b@')).join(', ')}" <${SENDER}>`, 'To'],
    ['group name', `To: "${MEMBERS.join(', ')}"@ :;`, 'To'],
    ['From with several addresses', `From: ${MEMBERS.join(', ')}\r\nTo: ${SENDER}`, 'From'],
  ])('%s: 550 5.7.1, nothing relayed', async (_name, headers, named) => {
    const { upstream, guard } = await start('reject');
    const from = headers.startsWith('From:') ? '' : `From: ${SENDER}\r\n`;
    const message = Buffer.from(`${from}${headers}\r\nSubject: s\r\n\r\nx\r\n`, 'utf8');
    const result = await sendOnce(guard.smtpPort, SENDER, MEMBERS, message);
    expect(result.final).toMatch(new RegExp(`^550 5\\.7\\.1 Message exposes 3 external recipient addresses to each other in ${named}; `));
    expect(upstream.transactions).toBe(0);
  });

  it('an encoded word in a charset nobody can decode: 554 5.6.0', async () => {
    const { upstream, guard } = await start('split');
    const message = Buffer.from(`From: ${SENDER}\r\nTo: =?x-unheard-of?q?a=40ext.com?= <${MEMBERS[0]}>\r\nSubject: s\r\n\r\nx\r\n`, 'utf8');
    const result = await sendOnce(guard.smtpPort, SENDER, [MEMBERS[0]!], message);
    expect(result.final).toMatch(/^554 5\.6\.0 Malformed message header: an encoded word in a charset no reader here can decode \(x-unheard-of\)/);
    expect(upstream.transactions).toBe(0);
  });
});
