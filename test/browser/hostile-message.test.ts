// A held message built to attack the person reviewing it, opened in a real
// Chromium: no script runs (no dialog, no window.__pwned), no request leaves
// for any host but the admin address, and markup in the headers and file
// names is shown as text. A form on another origin cannot make the browser act.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, signIn, textOf, type RecordedTab } from '../helpers/browser.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const browser = await launchBrowser();
const fixture = (name: string) => readFileSync(new URL(`../fixtures/eml/${name}`, import.meta.url));
const HOSTILE = fixture('html-scripts-handlers-javascript-links-meta-refresh-base-css-url-srcset-svg-remote-images.eml');
const MARKUP = fixture('markup-in-subject-from-display-names-and-attachment-filenames.eml');
const TOKEN = 'bob-console-token-0123456789';

async function hold(guard: RunningMailGuard, raw: Buffer, rcptTo: string[]): Promise<string> {
  const { final } = await sendOnce(guard.smtpPort, 'news@example.co.jp', rcptTo, raw);
  const id = /^250 2\.0\.0 held for review ([0-9A-Z]{26})$/.exec(final)?.[1];
  expect(id, final).toBeDefined();
  return id!;
}

describe.skipIf(!browser)('a hostile held message in the console', () => {
  let guard: RunningMailGuard;
  let upstream: RecordingUpstream;
  let base: string;
  let tab: RecordedTab;
  let hostileId: string;
  let markupId: string;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    guard = await startMailGuard({
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      policy: { action: 'quarantine' },
      admin: { tokens: [{ name: 'bob', tokenSha256: createHash('sha256').update(TOKEN).digest('hex'), role: 'approver' }] },
    });
    base = `http://127.0.0.1:${guard.adminPort}`;
    hostileId = await hold(guard, HOSTILE, ['alice@ext-one.example', 'bob@ext-two.example', 'carol@ext-three.example']);
    markupId = await hold(guard, MARKUP, ['dave@ext-one.example', 'erin@ext-two.example']);
    tab = await browser!.open('en');
    await signIn(tab, base, TOKEN);
  });
  afterAll(async () => {
    await browser?.close();
    await guard?.stop();
    await upstream?.close();
  });

  it('renders the HTML in a sandboxed frame where nothing runs and nothing is fetched from elsewhere', async () => {
    const { page, requests, dialogs } = tab;
    await page.goto(`${base}/ui/messages/${hostileId}`);
    expect(await page.getAttribute('iframe.html-preview', 'sandbox')).toBe('');
    const frame = page.frameLocator('iframe.html-preview');
    expect(await frame.locator('#greeting').textContent()).toBe('Hostile newsletter');
    expect(await frame.locator('body').textContent()).toContain('Styled paragraph');
    expect(await textOf(page, 'p.blocked')).toBe('3 remote image(s) blocked.');
    // The javascript: link lost its target; clicking it does nothing.
    await frame.locator('#jslink').click();
    await page.waitForLoadState('load');

    expect(dialogs).toEqual([]);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    const inner = page.frames().find((f) => f.url().endsWith(`/ui/messages/${hostileId}/frame`));
    expect(inner).toBeDefined();
    expect(await inner!.evaluate('window.__pwned')).toBeUndefined();
    expect(
      await inner!.evaluate(
        "document.querySelectorAll('script, svg, math, form, iframe, object, video, base, link, meta[http-equiv], [onload], [onclick], [onerror], [srcset], [href]').length",
      ),
    ).toBe(0);

    const foreign = requests.filter((url) => !url.startsWith(`${base}/`) && !url.startsWith('data:'));
    expect(foreign).toEqual([]);
    expect(requests).toContain(`${base}/ui/messages/${hostileId}/frame`);
    expect(page.url()).toBe(`${base}/ui/messages/${hostileId}`);
  });

  it('shows markup in the subject, From, display names and file names as text', async () => {
    const { page, dialogs, requests } = tab;
    await page.goto(`${base}/ui/messages/${markupId}`);
    expect(await textOf(page, 'h1.subject')).toBe('<script>window.__pwned="subject"</script><b id="injected-subject">bold</b>');
    expect(await textOf(page, 'dd.from')).toContain(`<img src=x onerror=alert('from')>`);
    expect(await textOf(page, 'td.filename')).toBe(`<img src=x onerror=alert('file')>.pdf`);
    expect(await page.locator('#injected-subject, #injected-name, main img').count()).toBe(0);

    // An approver may see the full addresses; display names stay text there too.
    await page.click('button.reveal');
    expect(await textOf(page, 'table.addresses')).toContain('dave@ext-one.example');
    expect(await textOf(page, 'section.addresses .hint')).toBe('Full addresses shown to bob; this view was recorded.');
    const audit = await guard.waitForLog((l) => l['event'] === 'audit' && l['action'] === 'reveal');
    expect(audit).toMatchObject({ actor: 'bob', target: markupId });

    expect(dialogs).toEqual([]);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(requests.filter((url) => !url.startsWith(`${base}/`))).toEqual([]);
  });

  it('refuses a form posted from a page on another origin, even with a stolen CSRF token', async () => {
    const { page } = tab;
    await page.goto(`${base}/ui/messages/${hostileId}`);
    const csrf = await page.getAttribute('form[action$="/discard"] input[name=csrf]', 'value');
    expect(csrf).toBeTruthy();
    // Another origin on the same host: the browser still sends the SameSite=Strict cookie (same site), so only the Origin check stands.
    const attacker: Server = createServer((_request, response) => {
      response.setHeader('content-type', 'text/html');
      response.end(`<form method="post" action="${base}/ui/messages/${hostileId}/discard">
<input name="reason" value="attacker"><input name="csrf" value="${csrf}"></form><script>document.forms[0].submit()</script>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (attacker.address() as AddressInfo).port;
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith(`/ui/messages/${hostileId}/discard`)),
        page.goto(`http://127.0.0.1:${port}/`),
      ]);
      expect(response.status()).toBe(403);
      expect(await response.text()).toContain('cross-origin form posts are refused');
    } finally {
      await new Promise((resolve) => attacker.close(resolve));
    }
    await page.goto(`${base}/ui/messages/${hostileId}`);
    expect(await textOf(page, 'main .status')).toBe('Held');
    expect(await textOf(page, 'table.history')).not.toContain('discard');
  });
});
