// A real headless Chromium for the console's browser tests: Debian's `chromium`
// driven by playwright-core. Every request the browser makes and every dialog a
// page opens is recorded, so a test can assert that nothing left for another
// host and that no script ran.
//
//   const browser = await launchBrowser();          // null: chromium not installed (dev machine)
//   describe.skipIf(!browser)('…', () => { const tab = await browser!.open('en'); … });
//
// CI sets MAIL_GUARD_REQUIRE_CHROMIUM=1 so a missing chromium fails the suite
// instead of skipping it (as MAIL_GUARD_REQUIRE_REDIS does for redis-server).

import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { findExecutable } from './find-executable.js';

export interface RecordedTab {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Every request of this tab's context, frames and subresources included, in order. */
  readonly requests: string[];
  /** Messages of every alert, confirm and prompt (confirms are accepted). */
  readonly dialogs: string[];
}

export interface RecordingBrowser {
  open(locale: 'en' | 'ja'): Promise<RecordedTab>;
  close(): Promise<void>;
}

const INSTALL_HINT = 'install it with apt-get install chromium';
let skipAnnounced = false;

export function findChromium(): string | null {
  return findExecutable('chromium', 'MAIL_GUARD_CHROMIUM');
}

export async function launchBrowser(): Promise<RecordingBrowser | null> {
  const executablePath = findChromium();
  if (!executablePath) {
    if (process.env['MAIL_GUARD_REQUIRE_CHROMIUM'] === '1') throw new Error(`MAIL_GUARD_REQUIRE_CHROMIUM=1 but chromium was not found; ${INSTALL_HINT}`);
    if (!skipAnnounced) {
      skipAnnounced = true;
      process.stderr.write(`\n*** SKIPPING browser tests: chromium not found; ${INSTALL_HINT} ***\n\n`);
    }
    return null;
  }
  // --no-sandbox: CI runs as root, where Chromium's own sandbox cannot start. The page's sandbox (iframe, CSP) is what is tested.
  const browser: Browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  const contexts: BrowserContext[] = [];
  return {
    async open(locale) {
      const context = await browser.newContext({ locale, viewport: { width: 1280, height: 900 } });
      contexts.push(context);
      const requests: string[] = [];
      const dialogs: string[] = [];
      context.on('request', (request) => requests.push(request.url()));
      const page = await context.newPage();
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.accept();
      });
      return { page, context, requests, dialogs };
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close();
    },
  };
}

/** Signs in through the console's own form, as a person would. */
export async function signIn(tab: RecordedTab, base: string, token: string): Promise<void> {
  await tab.page.goto(`${base}/ui/`);
  await tab.page.waitForURL(`${base}/ui/login`);
  await tab.page.fill('#token', token);
  await Promise.all([tab.page.waitForURL(`${base}/ui/`), tab.page.click('form[action="/ui/login"] button[type=submit]')]);
}

/** The trimmed text of the first element matching `selector`, once it exists. */
export async function textOf(page: Page, selector: string): Promise<string> {
  const element = page.locator(selector).first();
  await element.waitFor();
  return ((await element.textContent()) ?? '').trim();
}
