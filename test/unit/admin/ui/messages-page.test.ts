import { describe, expect, it } from 'vitest';
import { messagesPage } from '../../../../src/admin/ui/pages/messages.js';
import type { View } from '../../../../src/admin/ui/pages/view.js';
import { translator } from '../../../../src/admin/ui/strings.js';
import { listParams } from '../../../../src/admin/request-input.js';
import { makeRecord } from '../../../helpers/store-records.js';

const view: View = { lang: 'en', t: translator('en'), session: null, csrf: null, here: '/ui/messages' };

describe('messages page', () => {
  const query = listParams({ action: 'split', sender: 'news@example.co.jp', q: '春', cursor: 'abc', limit: '50' });

  it('keeps the filters in the paging links', () => {
    const out = messagesPage(view, query, { records: [makeRecord()], nextCursor: 'next-1', scanned: 1 }).value;
    const older = /<a rel="next" href="([^"]+)"/.exec(out)![1]!.replace(/&amp;/g, '&');
    const params = new URL(older, 'http://x').searchParams;
    expect(Object.fromEntries(params)).toEqual({ action: 'split', sender: 'news@example.co.jp', q: '春', cursor: 'next-1' });
    expect(out).toContain('href="/ui/messages?action=split&amp;sender=news%40example.co.jp&amp;q=%E6%98%A5">← Newest');
  });

  it('says how many records it searched when the page stopped at the scan bound, and not otherwise', () => {
    const bound = messagesPage(view, query, { records: [], nextCursor: 'next-2', scanned: 2000 }).value;
    expect(bound).toContain('Searched 2000 records without filling this page');
    const end = messagesPage(view, query, { records: [makeRecord()], nextCursor: null, scanned: 1 }).value;
    expect(end).not.toContain('Searched');
  });
});
