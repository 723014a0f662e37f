// Issue 14 in the console: a message held for the member list in its CSV
// attachment shows where the addresses were found (part, file, type, what it
// was read as, count, the masked addresses) and the part it did not open, in
// English and Japanese, in a real Chromium. Writes docs/console-content-{en,ja}.png.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, signIn, textOf, type RecordedTab } from '../helpers/browser.js';
import { members, membersCsv, RECIPIENT, SENDER } from '../helpers/content-messages.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const browser = await launchBrowser();
const TOKEN = 'carol-console-token-0123456789';

/** Each row of a table body as its cells' text. */
async function rows(tab: RecordedTab, selector: string): Promise<string[][]> {
  return tab.page.$$eval(`${selector} tbody tr`, (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').replace(/\s+/g, ' ').trim())),
  );
}

describe.skipIf(!browser)('the content section of a held message', () => {
  let guard: RunningMailGuard;
  let upstream: RecordingUpstream;
  let base: string;
  let id: string;
  const list = members(40);

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    guard = await startMailGuard({
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      policy: { content: { maxAddresses: 20 } },
      admin: { tokens: [{ name: 'carol', tokenSha256: createHash('sha256').update(TOKEN).digest('hex'), role: 'approver' }] },
    });
    base = `http://127.0.0.1:${guard.adminPort}`;
    const { final } = await sendOnce(guard.smtpPort, SENDER, [RECIPIENT], membersCsv(list, 'members.csv', true));
    id = /^250 2\.0\.0 held for review ([0-9A-Z]{26})$/.exec(final)?.[1] ?? '';
    expect(id, final).not.toBe('');
  });
  afterAll(async () => {
    await browser?.close();
    await guard?.stop();
    await upstream?.close();
  });

  it('lists the CSV with its masked addresses and the archive it did not open (English)', async () => {
    const tab = await browser!.open('en');
    await signIn(tab, base, TOKEN);
    await tab.page.goto(`${base}/ui/messages/${id}`);
    expect(await textOf(tab.page, 'section.content-found h2')).toBe('Found in the content');
    expect(await textOf(tab.page, 'section.content-found .hint')).toBe(
      '40 distinct external address(es) in forwarded messages, attachments and the body. Addresses are shown as the log shows them.',
    );
    const [place, ...others] = await rows(tab, 'table.content-places');
    expect(others).toEqual([]);
    expect(place!.slice(0, 5)).toEqual(['2', 'members.csv', 'text/csv', 'text attachment', '40']);
    // The first 20 addresses, masked, then how many more.
    const shown = await tab.page.$$eval('table.content-places li', (lis) => lis.map((li) => li.textContent));
    expect(shown).toEqual(new Array(20).fill('m***@m***.example'));
    expect(place![5]).toMatch(/… and 20 more$/);
    expect(await rows(tab, 'table.content-uninspected')).toEqual([['3', 'backup.zip', 'application/zip', 'archive (not opened)']]);
    expect(await textOf(tab.page, 'dd.reason')).toBe('the attachment members.csv lists 40 external addresses > content.maxAddresses 20');
    // The README's picture of the section.
    await tab.page.locator('section.content-found').screenshot({ path: 'docs/console-content-en.png' });
    // The list shows the content count beside the header exposure.
    await tab.page.goto(`${base}/ui/messages`);
    expect(await textOf(tab.page, 'small.content-count')).toBe('+40');
    await tab.page.goto(`${base}/ui/messages/${id}`);
    const page = await tab.page.content();
    for (const address of list) expect(page).not.toContain(address);
  });

  it('says the same in Japanese', async () => {
    const tab = await browser!.open('ja');
    await signIn(tab, base, TOKEN);
    await tab.page.goto(`${base}/ui/messages/${id}`);
    expect(await textOf(tab.page, 'section.content-found h2')).toBe('本文・添付ファイル内のアドレス');
    expect(await textOf(tab.page, 'section.content-found .hint')).toBe(
      '転送されたメッセージ、添付ファイル、本文に含まれる社外アドレスは 40 件です(重複を除く)。アドレスはログと同じ形で表示しています。',
    );
    const [place] = await rows(tab, 'table.content-places');
    expect(place!.slice(0, 5)).toEqual(['2', 'members.csv', 'text/csv', 'テキストの添付ファイル', '40']);
    expect(place![5]).toMatch(/…ほか 20 件$/);
    expect(await rows(tab, 'table.content-uninspected')).toEqual([['3', 'backup.zip', 'application/zip', '圧縮ファイル(展開していません)']]);
    expect(await textOf(tab.page, 'section.content-found h3')).toBe('検査していないパート');
    await tab.page.locator('section.content-found').screenshot({ path: 'docs/console-content-ja.png' });
  });
});
