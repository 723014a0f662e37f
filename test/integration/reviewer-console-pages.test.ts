// The console's data pages over real HTTP against a mail-guard in rehearsal
// mode (no upstream: every message captured with its verdict): the overview's
// verdict counts, the message filters and their paging, campaign verdicts and
// approvers, the rehearsal report, and the audit page with its downloads.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../../src/store/audit-chain.js';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
const TOKENS = { alice: 'alice-pages-token-0123456789', bob: 'bob-pages-token-0123456789' };
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const MEMBERS = ['a@ext1.example', 'b@ext2.example', 'c@ext3.example'];
const message = (from: string, to: readonly string[], subject: string) =>
  crlf(`From: ${from}`, `To: ${to.join(', ')}`, `Subject: ${subject}`, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', 'hello', '');

/** The rehearsal run: 4 newsletters (3 split by their rule, 1 to one member: pass), 2 partner updates (reject), 2 app mails (held). */
const SENDS: Array<[string, readonly string[], string]> = [
  ['news@example.co.jp', MEMBERS, 'Monthly news'],
  ['news@example.co.jp', MEMBERS, 'Monthly news'],
  ['news@example.co.jp', MEMBERS, 'Monthly news'],
  ['news@example.co.jp', ['a@ext1.example'], 'Monthly news'],
  ['partners@example.co.jp', MEMBERS, 'Partner update'],
  ['partners@example.co.jp', MEMBERS, 'Partner update'],
  ['app@example.co.jp', MEMBERS, '春のキャンペーン'],
  ['app@example.co.jp', MEMBERS, '春のキャンペーン'],
];

let guard: RunningMailGuard;
let base: string;

async function signIn(token: string, lang = 'en'): Promise<string> {
  const response = await fetch(`${base}/ui/login`, { method: 'POST', headers: FORM, body: `token=${encodeURIComponent(token)}`, redirect: 'manual' });
  expect(response.status).toBe(303);
  return `${(response.headers.get('set-cookie') ?? '').split(';')[0]!}; mg_lang=${lang}`;
}

async function page(cookie: string, path: string, status = 200): Promise<string> {
  const response = await fetch(`${base}${path}`, { headers: { cookie }, redirect: 'manual' });
  const text = await response.text();
  expect(response.status, `${path}: ${text.slice(0, 300)}`).toBe(status);
  return text;
}

/** The text of the first element matching `pattern`'s capture, tags stripped, spaces collapsed. */
const textOf = (html: string, pattern: RegExp) =>
  (pattern.exec(html)?.[1] ?? '')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

beforeAll(async () => {
  guard = await startMailGuard({
    internalDomains: ['example.co.jp'],
    policy: {
      action: 'quarantine',
      fourEyes: true,
      rules: [
        { name: 'newsletter', from: 'news@example.co.jp', action: 'split' },
        { name: 'partners', from: 'partners@example.co.jp', action: 'reject' },
      ],
    },
    admin: {
      tokens: [
        { name: 'alice', tokenSha256: sha256(TOKENS.alice), role: 'reviewer' },
        { name: 'bob', tokenSha256: sha256(TOKENS.bob), role: 'approver' },
      ],
    },
  });
  base = `http://127.0.0.1:${guard.adminPort}`;
  for (const [from, to, subject] of SENDS) {
    const { final } = await sendOnce(guard.smtpPort, from, to, message(from, to, subject));
    expect(final).toMatch(/^250 .*captured in rehearsal mode/);
  }
});
afterAll(async () => {
  await guard?.stop();
});

describe('the console pages on a rehearsal run', () => {
  it('overview: verdict counts today and over 7 days, complete in rehearsal mode, in the live fragment too', async () => {
    const cookie = await signIn(TOKENS.alice);
    for (const path of ['/ui/', '/ui/overview/live']) {
      const html = await page(cookie, path);
      const row = (verdict: string) => textOf(html, new RegExp(`<tr data-verdict="${verdict}">([\\s\\S]*?)</tr>`));
      expect(row('split'), path).toBe('Split 3 3');
      expect(row('pass'), path).toBe('Pass 1 1');
      expect(row('reject'), path).toBe('Reject 2 2');
      expect(row('quarantine'), path).toBe('Hold 2 2');
      expect(textOf(html, /<tr class="total">([\s\S]*?)<\/tr>/), path).toBe('Messages 8 8');
      expect(html, path).not.toContain('Complete only in rehearsal mode');
    }
    const ja = await page(await signIn(TOKENS.alice, 'ja'), '/ui/');
    expect(textOf(ja, /<tr data-verdict="split">([\s\S]*?)<\/tr>/)).toBe('分割 3 3');
    expect(ja).toContain('判定別の件数');
  });

  it('messages: the filters reach the store, one that matches and one that does not, and an unknown parameter is refused', async () => {
    const cookie = await signIn(TOKENS.alice);
    const rows = (html: string) => [...html.matchAll(/<tbody>([\s\S]*?)<\/tbody>/g)].flatMap((m) => [...m[1]!.matchAll(/<tr>/g)]).length;
    const all = await page(cookie, '/ui/messages');
    expect(rows(all)).toBe(8);
    const split = await page(cookie, '/ui/messages?status=&action=split&rule=newsletter&violation=&sender=NEWS%40example.co.jp&q=');
    expect(rows(split)).toBe(3);
    expect(split).toContain('<option value="split"  selected>');
    expect(split).toContain('value="newsletter"');
    expect(split).not.toContain('disabled title');
    const text = await page(cookie, `/ui/messages?q=${encodeURIComponent('春の')}`);
    expect(rows(text)).toBe(2);
    expect(text).toContain('春のキャンペーン');
    const none = await page(cookie, '/ui/messages?action=reject&sender=news%40example.co.jp');
    expect(none).toContain('No messages.');
    expect(rows(none)).toBe(0);
    expect(await page(cookie, '/ui/messages?colour=red', 400)).toContain('unknown query parameter');
  });

  it('campaigns: the verdict counts of each campaign, on the list and on its own page', async () => {
    const cookie = await signIn(TOKENS.alice);
    const list = await page(cookie, '/ui/campaigns');
    const rowOf = (subject: string) => textOf(list, new RegExp(`<tr>((?:(?!</tr>)[\\s\\S])*?${subject}[\\s\\S]*?)</tr>`));
    expect(rowOf('Monthly news')).toContain('Pass 1 Split 3');
    expect(rowOf('Partner update')).toContain('Reject 2');
    expect(rowOf('Partner update')).toContain('Not approved yet');
    const key = /href="\/ui\/campaigns\/([0-9a-f]{24})">Monthly news</.exec(list)![1]!;
    const one = await page(cookie, `/ui/campaigns/${key}`);
    expect(textOf(one, /<dd class="verdicts">([\s\S]*?)<\/dd>/)).toBe('Pass 1 Split 3');
  });

  it('report: per campaign the messages per verdict and why, complete in rehearsal mode, since a time, linked from every page', async () => {
    const cookie = await signIn(TOKENS.alice);
    const report = await page(cookie, '/ui/report?since=');
    expect(await page(cookie, '/ui/')).toContain('<a href="/ui/report">Rehearsal report</a>');
    const row = (subject: string) => new RegExp(`<tr data-campaign="[0-9a-f]{24}">((?:(?!</tr>)[\\s\\S])*?${subject}[\\s\\S]*?)</tr>`).exec(report)?.[1] ?? '';
    const count = (html: string, verdict: string) => textOf(html, new RegExp(`<td class="num" data-verdict="${verdict}">([^<]*)</td>`));
    const news = row('Monthly news');
    expect(textOf(news, /<td class="num messages">([^<]*)<\/td>/)).toBe('4');
    expect([count(news, 'split'), count(news, 'pass'), count(news, 'reject'), count(news, 'quarantine')]).toEqual(['3', '1', '0', '0']);
    expect(textOf(news, /<ul class="reasons">([\s\S]*?)<\/ul>/)).toMatch(
      /^Split 3 × 3 exposed external addresses &gt; maxVisibleExternal 1 Pass 1 × 0 exposed/,
    );
    const partners = row('Partner update');
    expect([count(partners, 'reject'), count(partners, 'split')]).toEqual(['2', '0']);
    const total = /<tr class="total">([\s\S]*?)<\/tr>/.exec(report)![1]!;
    expect([textOf(total, /<td class="num messages">([^<]*)<\/td>/), count(total, 'quarantine')]).toEqual(['8', '2']);
    expect(report).toContain('Rehearsal mode: complete, every message received is counted (8 records read).');

    const later = await page(cookie, `/ui/report?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(later).not.toContain('data-campaign=');
    expect(await page(cookie, '/ui/report?since=yesterday', 400)).toContain('since must be an ISO 8601 time');
    const ja = await page(await signIn(TOKENS.alice, 'ja'), '/ui/report');
    expect(ja).toContain('<h1>リハーサル報告</h1>');
  });
});

describe('the console pages with an upstream (held mail, four-eyes)', () => {
  let live: RunningMailGuard;
  let liveBase: string;
  let campaign: string;
  let upstream: RecordingUpstream;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    live = await startMailGuard({
      upstream: { host: '127.0.0.1', port: upstream.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      policy: { action: 'quarantine', fourEyes: true },
      admin: { tokens: [{ name: 'alice', tokenSha256: sha256(TOKENS.alice), role: 'reviewer' }] },
    });
    liveBase = `http://127.0.0.1:${live.adminPort}`;
    for (let i = 0; i < 2; i++) {
      const { final } = await sendOnce(live.smtpPort, 'shop@example.co.jp', MEMBERS, message('shop@example.co.jp', MEMBERS, 'Sale'));
      expect(final).toMatch(/^250 .*held for review/);
    }
    const response = await fetch(`${liveBase}/ui/login`, { method: 'POST', headers: FORM, body: `token=${TOKENS.alice}`, redirect: 'manual' });
    const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0]!;
    const list = await (await fetch(`${liveBase}/ui/campaigns`, { headers: { cookie } })).text();
    campaign = /href="\/ui\/campaigns\/([0-9a-f]{24})">Sale</.exec(list)![1]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(list)![1]!;
    const approve = await fetch(`${liveBase}/ui/campaigns/${campaign}/approve`, {
      method: 'POST',
      headers: { ...FORM, cookie },
      body: `csrf=${encodeURIComponent(csrf)}&reason=looked+at+it`,
      redirect: 'manual',
    });
    expect(approve.status).toBe(303);
  });
  afterAll(async () => {
    await live?.stop();
    await upstream?.close();
  });

  const livePage = async (path: string, status = 200) => {
    const response = await fetch(`${liveBase}/ui/login`, { method: 'POST', headers: FORM, body: `token=${TOKENS.alice}`, redirect: 'manual' });
    const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0]!;
    const answer = await fetch(`${liveBase}${path}`, { headers: { cookie } });
    expect(answer.status, path).toBe(status);
    return answer;
  };

  it('campaigns: who approved, with how many, on the list and on the campaign page', async () => {
    const list = await (await livePage('/ui/campaigns')).text();
    expect(textOf(list, /<td class="approvers">([\s\S]*?)<\/td>/)).toBe('alice (2)');
    expect(textOf(list, /<td class="verdicts">([\s\S]*?)<\/td>/)).toBe('Hold 2');
    const one = await (await livePage(`/ui/campaigns/${campaign}`)).text();
    expect(textOf(one, /<dd class="approvers">([\s\S]*?)<\/dd>/)).toBe('alice (2)');
    expect(textOf(one, /<p class="approvers">([\s\S]*?)<\/p>/)).toContain('alice');
  });

  it('audit: the sign-in and approve entries newest first, the entries shown verified, and downloads that verify', async () => {
    const html = await (await livePage('/ui/audit')).text();
    const rows = [...html.matchAll(/<tr data-seq="(\d+)">([\s\S]*?)<\/tr>/g)].map((m) => ({
      seq: Number(m[1]),
      actor: textOf(m[2]!, /<td class="actor">([\s\S]*?)<\/td>/),
      action: textOf(m[2]!, /<td class="action"[^>]*>([\s\S]*?)<\/td>/),
    }));
    expect(rows.map((r) => r.seq)).toEqual([...rows.map((r) => r.seq)].sort((a, b) => b - a));
    // Oldest last: beforeAll's sign-in and its two approvals; newest first: the sign-in of this request (livePage signs in each time).
    const lines = rows.map((r) => `${r.actor} ${r.action}`);
    expect(lines.slice(-3)).toEqual(['alice approve', 'alice approve', 'alice sign-in']);
    expect(lines.slice(0, -3).every((l) => l === 'alice sign-in')).toBe(true);
    expect(lines[0]).toBe('alice sign-in');
    expect(html).toContain(`Entries 1 to ${rows.length} shown here are intact`);
    expect(html).toContain('mail-guard audit verify');

    const jsonl = await livePage('/ui/audit.jsonl');
    expect(jsonl.headers.get('content-disposition')).toBe('attachment; filename="mail-guard-audit.jsonl"');
    const exported = (await jsonl.text())
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    const check = verifyChain(exported);
    expect(check.ok).toBe(true);
    // The download came after one more sign-in: every entry the page showed, and that one.
    expect(check.count).toBe(rows.length + 1);
    // The bytes, not .text(): a decoder drops the byte order mark Excel needs.
    const csv = Buffer.from(await (await livePage('/ui/audit.csv')).arrayBuffer()).toString('utf8');
    expect(csv.startsWith('\ufeffseq,at,actor,action,target,note,prev,hash\r\n')).toBe(true);
    expect(csv).toContain(',alice,approve,');
    const signedOut = await fetch(`${liveBase}/ui/audit.jsonl`, { redirect: 'manual' });
    expect(signedOut.status).toBe(303);
  });
});
