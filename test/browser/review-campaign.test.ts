// The reviewer console in a real Chromium, on a replay of the seed incident (a
// newsletter to its members, every member in To, one message each; 12 members
// here instead of 832): sign in, see the held campaign live, approve as one
// person, be refused the release as the same person, release as split as
// another, read the history. Writes the README's screenshots into docs/.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, signIn, textOf, type RecordedTab } from '../helpers/browser.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const browser = await launchBrowser();
const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
const TOKENS = { alice: 'alice-console-token-0123456789', bob: 'bob-console-token-0123456789' };
const MEMBERS = Array.from({ length: 12 }, (_, i) => `member${i}@${['gmail.com', 'yahoo.co.jp', 'docomo.ne.jp', 'example.net'][i % 4]}`);
const newsletterFor = (member: string) =>
  [
    'From: Newsletter <news@example.co.jp>',
    `To: ${MEMBERS.join(',\r\n ')}`,
    'Subject: November newsletter',
    'Message-ID: <nov-2026@example.co.jp>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Dear member, this copy is for ${member}.`,
    '',
  ].join('\r\n');

describe.skipIf(!browser)('reviewing the incident replay in the console', () => {
  let upstream: RecordingUpstream;
  let guard: RunningMailGuard;
  let base: string;
  let alice: RecordedTab;
  let campaignUrl: string;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    guard = await startMailGuard({
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      policy: { action: 'quarantine', maxVisibleExternal: 1, fourEyes: true },
      admin: {
        tokens: [
          { name: 'alice', tokenSha256: sha256(TOKENS.alice), role: 'reviewer' },
          { name: 'bob', tokenSha256: sha256(TOKENS.bob), role: 'approver' },
        ],
      },
    });
    base = `http://127.0.0.1:${guard.adminPort}`;
    for (const member of MEMBERS) {
      const { final } = await sendOnce(guard.smtpPort, 'news@example.co.jp', [member], newsletterFor(member));
      expect(final).toMatch(/^250 2\.0\.0 held for review /);
    }
  });
  afterAll(async () => {
    await browser?.close();
    await guard?.stop();
    await upstream?.close();
  });

  it('signs in and shows the held campaign, updating without a reload', async () => {
    alice = await browser!.open('en');
    await signIn(alice, base, TOKENS.alice);
    const { page } = alice;
    expect(await page.textContent('[data-status=held]')).toBe('12');
    expect(await textOf(page, 'table.campaigns')).toContain('November newsletter');
    await page.screenshot({ path: 'docs/console-overview-en.png' });

    // New held mail appears while the page stays as it is (a reload would drop the marker).
    await page.evaluate('window.__marker = 1');
    const other = ['From: shop@example.co.jp', 'To: x@ext1.example, y@ext2.example', 'Subject: Sale', '', 'hi', ''].join('\r\n');
    await sendOnce(guard.smtpPort, 'shop@example.co.jp', ['x@ext1.example', 'y@ext2.example'], other);
    await page.locator('[data-status=held]', { hasText: /^13$/ }).waitFor();
    expect(await page.evaluate('window.__marker')).toBe(1);
    expect(await textOf(page, 'table.campaigns')).toContain('Sale');
  });

  it('shows the campaign and a message in English and in Japanese', async () => {
    const { page } = alice;
    await page.click('table.campaigns >> text=November newsletter');
    campaignUrl = page.url();
    expect(await page.textContent('dd.count')).toBe('12');
    expect(Number(await page.textContent('dd.exposure'))).toBe(11);
    await page.screenshot({ path: 'docs/console-campaign-en.png', fullPage: true });
    await page.click('table.messages a >> nth=0');
    expect(await textOf(page, 'h1.subject')).toBe('November newsletter');
    expect(await textOf(page, 'table.addresses')).toContain('m***@g***.com');
    expect(await textOf(page, 'pre.copy-split')).toContain('To: <member');
    expect(await textOf(page, 'pre.copy-bcc')).toContain('To: undisclosed-recipients:;');
    expect(await textOf(page, 'pre.copy-bcc')).not.toContain('Dear member');
    await page.screenshot({ path: 'docs/console-message-en.png', fullPage: true });

    // Accept-Language picks Japanese; the switch on every page changes it.
    const ja = await browser!.open('ja');
    await signIn(ja, base, TOKENS.alice);
    expect(await textOf(ja.page, 'h1')).toBe('概要');
    expect(await textOf(ja.page, '.tile-held .status')).toBe('保留');
    await ja.page.screenshot({ path: 'docs/console-overview-ja.png' });
    await ja.page.goto(campaignUrl);
    expect(await textOf(ja.page, 'button.approve')).toBe('承認');
    expect(await textOf(ja.page, 'button.release-split')).toBe('分割して送信(受信者ごとに1通)');
    await ja.page.screenshot({ path: 'docs/console-campaign-ja.png', fullPage: true });
    await ja.page.goto(page.url());
    expect(await textOf(ja.page, 'section.addresses h2')).toBe('ヘッダー別の表示アドレス');
    await ja.page.screenshot({ path: 'docs/console-message-ja.png', fullPage: true });
    await ja.page.click('nav.lang a[lang=en]');
    expect(await textOf(ja.page, 'section.addresses h2')).toBe('Visible addresses by header');
  });

  it('approves the campaign as alice, who then cannot release it, with the buttons saying so', async () => {
    const { page, dialogs } = alice;
    await page.goto(campaignUrl);
    await page.click('button.approve');
    expect(await textOf(page, '.notice-ok')).toBe('Approved 12 of 12 message(s).');
    expect(dialogs).toContain('Approve 12 message(s)?');
    expect(await textOf(page, 'p.approvers strong')).toBe('alice');
    expect(await textOf(page, '.four-eyes')).toContain('another person must release it');
    expect(await page.locator('button.release-split').isDisabled()).toBe(true);
    expect(await page.locator('button.release-bcc').isDisabled()).toBe(true);

    // The server refuses anyway: the same form, with the button enabled by hand.
    await page.evaluate("document.querySelectorAll('button.release').forEach((b) => { b.disabled = false; })");
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/release')), page.click('button.release-split')]);
    expect(response.status()).toBe(403);
    expect(await textOf(page, '.notice-error')).toContain('you approved this message yourself');
    expect(upstream.messages).toHaveLength(0);
  });

  it('releases it as split as bob, and the history shows both people', async () => {
    const bob = await browser!.open('en');
    await signIn(bob, base, TOKENS.bob);
    const { page } = bob;
    await page.goto(campaignUrl);
    expect(await textOf(page, 'p.approvers strong')).toBe('alice');
    expect(await page.locator('button.release-split').isEnabled()).toBe(true);
    await page.click('button.release-split');
    expect(await textOf(page, '.notice-ok')).toBe('Released 12 of 12 message(s).');
    expect(bob.dialogs).toEqual(['Send 12 message(s) to the upstream relay now?']);

    expect(upstream.messages).toHaveLength(MEMBERS.length);
    for (const message of upstream.messages) {
      expect(message.rcptTo).toHaveLength(1);
      const head = message.raw.toString('utf8').split('\r\n\r\n')[0]!;
      expect(head).toContain(`\r\nTo: <${message.rcptTo[0]}>`);
      expect(new Set(head.match(/member\d+@[a-z.-]+/g))).toEqual(new Set([message.rcptTo[0]]));
    }

    await page.goto(`${base}/ui/messages?status=released`);
    await page.click('table.messages a >> nth=0');
    const rows = page.locator('table.history tbody tr');
    await rows.first().waitFor();
    expect(
      await rows
        .filter({ has: page.locator('td.action', { hasText: /^approve$/ }) })
        .locator('td.actor')
        .textContent(),
    ).toBe('alice');
    expect(await rows.filter({ hasText: 'as split' }).locator('td.actor').textContent()).toBe('bob');
    expect(await textOf(page, 'main .status')).toBe('Released');
  });

  it('shows the report and the audit log of that review, in English and Japanese', async () => {
    const { page } = alice;
    await page.click('nav.main a[href="/ui/report"]');
    const row = page.locator('table.report tr', { hasText: 'November newsletter' });
    // Live mode: only what was held is in the store, and the page says so.
    expect(await textOf(page, 'p.report-mode')).toContain('Complete only in rehearsal mode');
    expect(await row.locator('td.messages').textContent()).toBe('12');
    expect(await row.locator('td[data-verdict=quarantine]').textContent()).toBe('12');
    await page.screenshot({ path: 'docs/console-report-en.png', fullPage: true });

    await page.click('nav.main a[href="/ui/audit"]');
    expect(await textOf(page, 'p.chain')).toMatch(/^Entries 1 to \d+ shown here are intact/);
    const entries = await page
      .locator('table.audit tbody tr')
      .evaluateAll((rows) => rows.map((r) => `${r.querySelector('.actor')?.textContent ?? ''} ${r.querySelector('.action')?.textContent ?? ''}`));
    expect(entries.filter((e) => e === 'alice approve')).toHaveLength(12);
    expect(entries.filter((e) => e === 'bob release')).toHaveLength(12);
    // Newest first: bob's releases come before alice's approvals.
    expect(entries.indexOf('bob release')).toBeLessThan(entries.indexOf('alice approve'));

    const ja = await browser!.open('ja');
    await signIn(ja, base, TOKENS.alice);
    await ja.page.click('nav.main a[href="/ui/audit"]');
    expect(await textOf(ja.page, 'h1')).toBe('監査ログ');
    expect(await textOf(ja.page, 'p.chain')).toContain('改ざんされていません');
    const jaActions = await ja.page
      .locator('table.audit tbody td.action')
      .evaluateAll((cells) => cells.map((c) => `${c.getAttribute('data-action')} ${c.textContent}`));
    expect(jaActions.filter((a) => a === 'approve 承認')).toHaveLength(12);
    expect(jaActions.filter((a) => a === 'release 送信')).toHaveLength(12);
    await ja.page.screenshot({ path: 'docs/console-audit-ja.png', fullPage: true });
  });
});
