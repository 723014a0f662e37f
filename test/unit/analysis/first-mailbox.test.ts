import addressparser from 'nodemailer/lib/addressparser';
import { describe, expect, it } from 'vitest';
import { firstMailbox } from '../../../src/analysis/addresses.js';
import { normaliseDomain } from '../../../src/analysis/domain.js';

describe('firstMailbox', () => {
  it.each([
    'news@example.co.jp',
    ' <news@example.co.jp> ',
    'Newsletter Team <news@example.co.jp>',
    "O'Brien Jr. <ob@ext.example>",
    '"Quoted, Name" <q@example.co.jp>',
    '=?UTF-8?B?5pel5pys?= <jp@example.co.jp>',
    'a@example.co.jp, b@ext.com',
    'Group: a@ext.com;',
    '(comment) c@example.co.jp',
  ])('agrees with addressparser on %j', (value) => {
    const parsed = addressparser(value, { flatten: true }).find((m) => m.address.includes('@'))?.address ?? null;
    expect(firstMailbox(value)).toBe(parsed);
  });
});

describe('normaliseDomain cache', () => {
  it('gives the same answer from the cache as the first time', () => {
    const first = normaliseDomain('BÜCHER.example.');
    expect(first).toBe('xn--bcher-kva.example');
    expect(normaliseDomain('BÜCHER.example.')).toBe(first);
  });
});
