// The seed incident at full size, with quarantine and notify on: 832 members,
// one message each with every member in To. 832 held messages must give the
// sender one notice and the people on duty one page, neither naming a member.
// (notices.test.ts runs the same with 60 members in the integration loop.)
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import PostalMime from 'postal-mime';
import { afterEach, describe, expect, it } from 'vitest';
import { incidentMembers, incidentNewsletter } from '../helpers/incident.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { TestSmtpClient } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';
import { within } from '../helpers/within.js';

const MEMBERS = incidentMembers(832);
const newsletterFor = (member: string): string => incidentNewsletter(MEMBERS, member);

describe('the 832-member incident, held, with notices', () => {
  let upstream: RecordingUpstream;
  let guard: RunningMailGuard;
  const pages: string[] = [];
  const hook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      pages.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(204).end();
    });
  });
  afterEach(async () => {
    await guard?.stop();
    await upstream?.close();
    await new Promise((resolve) => hook.close(resolve));
  });

  it('one Japanese notice to the sender and one page, naming no member', async () => {
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    upstream = await startRecordingUpstream();
    guard = await startMailGuard({
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false, pool: 8 },
      internalDomains: ['example.co.jp'],
      policy: { action: 'quarantine', maxVisibleExternal: 1 },
      notify: {
        language: 'ja',
        sender: true,
        from: 'mail-guard@example.co.jp',
        webhooks: [{ url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, events: ['held'] }],
      },
    });
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const { client } = await TestSmtpClient.open(guard.smtpPort);
        await client.command('EHLO newsletter.example.co.jp');
        while (next < MEMBERS.length) {
          const member = MEMBERS[next++]!;
          expect((await client.send('news@example.co.jp', [member], newsletterFor(member))).final).toMatch(/^250 2\.0\.0 held for review/);
        }
        await client.quit();
      }),
    );
    await within(
      guard.waitForLog((l) => l['event'] === 'sender_notice' && l['result'] === 'sent'),
      20_000,
      'the sender notice',
    );
    // stop() lets what is under way finish (bounded): whatever would still arrive has arrived.
    await guard.stop();

    expect(upstream.messages).toHaveLength(1);
    const notice = upstream.messages[0]!;
    expect([notice.mailFrom, notice.rcptTo]).toEqual(['', ['news@example.co.jp']]);
    const email = await PostalMime.parse(notice.raw);
    expect(email.subject).toBe('【mail-guard】送信を保留しました（未送信）：「November newsletter」');
    expect(email.text).toContain('社外の宛先 831 件のメールアドレスが To ヘッダーに記載されており');
    const decoded = `${email.subject}\n${email.text}\n${notice.raw.toString('latin1').slice(0, notice.raw.indexOf('\r\n\r\n'))}`;
    expect(decoded).not.toMatch(/member\d+@/);

    expect(pages).toHaveLength(1);
    expect(JSON.parse(pages[0]!)).toMatchObject({ event: 'held', exposedExternalCount: 831, exposingHeaders: ['To'] });
    expect(pages[0]).not.toMatch(/member\d+@/);
  });
});
