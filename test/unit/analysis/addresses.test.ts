import { describe, expect, it } from 'vitest';
import { extractAddresses, firstMailbox, type FoundAddress } from '../../../src/analysis/addresses.js';
import { MalformedHeaderError } from '../../../src/analysis/malformed.js';

const extract = (value: string, remaining = 1000) => extractAddresses(value, { remaining });
const addresses = (value: string): string[] =>
  extract(value)
    .addresses.map((a) => a.address.toLowerCase())
    .sort();
const asMap = (found: readonly FoundAddress[]) => Object.fromEntries(found.map((a) => [a.address, a.foundIn]));

/** Why the value is malformed (decide() answers 554 5.6.0 for it). */
function malformed(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedHeaderError);
    return (err as MalformedHeaderError).why;
  }
  throw new Error('expected a MalformedHeaderError');
}

describe('extractAddresses: the union of parse and text scan', () => {
  it('says where each address was found', () => {
    expect(asMap(extract('"bob@ext.com" <a@corp.example> (cc c@ext3.com)').addresses)).toEqual({
      'a@corp.example': 'address',
      'bob@ext.com': 'text',
      'c@ext3.com': 'text',
    });
  });

  it.each([
    ['plain list', 'a@x.com, <b@y.com>', ['a@x.com', 'b@y.com']],
    ['no commas', 'a@x.com b@y.com <c@z.com>', ['a@x.com', 'b@y.com', 'c@z.com']],
    ['semicolons', 'a@x.com;b@y.com ; c@z.com', ['a@x.com', 'b@y.com', 'c@z.com']],
    ['group and nested group', 'G: a@x.com, H: b@y.com;, c@z.com;', ['a@x.com', 'b@y.com', 'c@z.com']],
    ['empty group', 'undisclosed-recipients:;', []],
    ['group name holding an address', '"boss@ext.com": a@x.com;', ['a@x.com', 'boss@ext.com']],
    ['escaped @ in a display name', '"bob\\@ext.com" <a@x.com>', ['a@x.com', 'bob@ext.com']],
    ['RFC 2047 B in a display name', '=?UTF-8?B?Ym9iQGV4dC5jb20=?= <a@x.com>', ['a@x.com', 'bob@ext.com']],
    ['RFC 2047 Q in a comment', 'a@x.com (=?utf-8?q?bob=40ext.com?=)', ['a@x.com', 'bob@ext.com']],
    ['RFC 2047 with no literal @ at all', '=?UTF-8?Q?bob=40ext.com?=', ['bob@ext.com']],
    ['full-width at sign in a name', '"bob＠ext.com" <a@x.com>', ['a@x.com', 'bob@ext.com']],
    ['IDN in a name', '"user@bücher.example" <a@x.com>', ['a@x.com', 'user@bücher.example']],
    ['CFWS around @', 'a @ x.com', ['a@x.com']],
    ['obs-route in angle brackets', '<@relay.example:a@x.com>', ['a@x.com']],
    ['address-like text in an unclosed comment', 'a@x.com (note b@y.com', ['a@x.com', 'b@y.com']],
  ])('%s', (_name, value, expected) => {
    expect(addresses(value)).toEqual([...expected].sort());
  });

  it('a quoted local part holding @ is an address at the domain after the quotes, and its text is read too', () => {
    // postal-mime shows this mailbox as `x@ext1.com@example.co.jp`: a reader sees x@ext1.com.
    expect(extract('"x@ext1.com"@example.co.jp').addresses).toEqual([
      { address: '"x@ext1.com"@example.co.jp', foundIn: 'address' },
      { address: 'x@ext1.com', foundIn: 'text' },
    ]);
  });

  it('an unterminated quote leaves its text readable (the parser reads it as one odd address)', () => {
    const found = addresses('"bob@ext.com <a@x.com>');
    expect(found).toEqual(expect.arrayContaining(['a@x.com', 'bob@ext.com']));
  });

  it('a quoted display name before <...> is still scanned', () => {
    expect(addresses('"x@ext1.com" <a@example.co.jp>')).toEqual(['a@example.co.jp', 'x@ext1.com']);
  });

  it.each([
    ['comment after @', 'a@(c)ext.com', 'a@ext.com'],
    ['comment after a dot', 'a@ext.(c)com', 'a@ext.com'],
    ['fold after a dot', 'a@ext.\t com', 'a@ext.com'],
    ['comment between an internal name and more labels', 'a@example.co.jp(c).evil.com', 'a@example.co.jp.evil.com'],
  ])('comment or folding inside a domain: %s yields the real domain', (_name, value, expected) => {
    expect(addresses(value)).toContain(expected);
  });

  it('encoded words inside an addr-spec are refused', () => {
    expect(malformed(() => extract('=?utf-8?q?a?=@ext.com'))).toMatch(/encoded word inside an address/);
    expect(malformed(() => extract('Name <a@=?utf-8?q?ext?=.com>'))).toMatch(/encoded word/);
  });

  it('an encoded word in a charset nobody can decode is malformed, not "no addresses"', () => {
    expect(malformed(() => extract('=?x-no-such-charset?q?bob=40ext.com?= <a@x.com>'))).toMatch(/charset no reader here can decode \(x-no-such-charset\)/);
  });
});

describe('extractAddresses: budget', () => {
  it('decrements once per distinct address (case duplicates count once)', () => {
    const budget = { remaining: 3 };
    const r = extractAddresses('a@x.com, A@X.COM, b@y.com', budget);
    expect(r.truncated).toBe(false);
    expect(r.addresses).toHaveLength(2);
    expect(budget.remaining).toBe(1);
  });

  it('exactly the budget is not truncated; one more is', () => {
    const exact = { remaining: 2 };
    expect(extractAddresses('a@x.com, b@y.com', exact).truncated).toBe(false);
    expect(exact.remaining).toBe(0);
    expect(extractAddresses('a@x.com, b@y.com, c@z.com', { remaining: 2 }).truncated).toBe(true);
  });

  it('every @ counts before parsing, also one inside a quoted local part (fail closed)', () => {
    const r = extractAddresses('"c@z.com"@w.com, d@v.com', { remaining: 2 });
    expect(r).toEqual({ addresses: [], truncated: true });
  });

  it('is shared across calls: the next header is truncated at once', () => {
    const budget = { remaining: 2 };
    expect(extractAddresses('a@x.com, b@y.com', budget).truncated).toBe(false);
    const next = extractAddresses('c@z.com', budget);
    expect(next).toEqual({ addresses: [], truncated: true });
  });

  it('more @ than budget is refused before any parsing', () => {
    const budget = { remaining: 10 };
    const value = Array.from({ length: 50_000 }, (_, i) => `u${i}@e${i}.jp`).join(', ');
    expect(extractAddresses(value, budget)).toEqual({ addresses: [], truncated: true });
    expect(budget.remaining).toBe(0);
  });

  it('addresses hidden in encoded words still count against the budget', () => {
    const word = '=?UTF-8?Q?u=40ext.com?=';
    const value = Array.from({ length: 5 }, (_, i) => word.replace('u', `u${i}`)).join(' ');
    const r = extractAddresses(value, { remaining: 3 });
    expect(r.truncated).toBe(true);
    expect(r.addresses).toHaveLength(3);
  });
});

describe('extractAddresses: bounded work on hostile input', () => {
  it("50,000 '(' with no address completes and finds nothing", () => {
    expect(extract('('.repeat(50_000))).toEqual({ addresses: [], truncated: false });
  });

  it("50,000 '(' around one address is refused as malformed, not parsed", () => {
    expect(malformed(() => extract('('.repeat(50_000) + 'x@ext.com' + ')'.repeat(50_000)))).toMatch(/too convoluted/);
  });

  it('20,000 nested groups are refused as malformed', () => {
    expect(malformed(() => extract('g:'.repeat(20_000) + 'x@ext.com' + ';'.repeat(20_000)))).toMatch(/too convoluted/);
  });

  it('a few levels of nesting are fine and the address inside is seen', () => {
    expect(addresses('A: B: C: ((((x@ext.com)))) y@ext2.com;;;')).toEqual(['x@ext.com', 'y@ext2.com']);
  });

  it.each([
    ['1 MiB of "a,"', 'a,'.repeat(1 << 19)],
    ['1 MiB of spaces and letters', 'a '.repeat(1 << 19)],
    ['1 MiB of quotes', '"'.repeat(1 << 20)],
  ])('%s without any @ completes with nothing found', (_name, value) => {
    expect(extract(value)).toEqual({ addresses: [], truncated: false });
  });

  it('a long run of @-joined atoms is one candidate, not a quadratic scan', () => {
    const r = extract('a@'.repeat(500) + 'x.com', 1000);
    expect(r.truncated).toBe(false);
    expect(r.addresses.map((a) => a.address)).toContain('a@x.com');
  });
});

describe('firstMailbox', () => {
  it.each([
    ['=?UTF-8?B?5qCq5byP5Lya56S+?= <news@example.co.jp>', 'news@example.co.jp'],
    ['news@example.co.jp, other@example.co.jp', 'news@example.co.jp'],
    ['Team: a@example.co.jp;', 'a@example.co.jp'],
    ['"x@ext.com" <news@example.co.jp>', 'news@example.co.jp'],
  ])('%s -> %s', (value, expected) => {
    expect(firstMailbox(value)).toBe(expected);
  });

  it.each([
    ['', 'empty'],
    ['Just A Name', 'no address'],
    ['a@example.co.jp ' + 'x'.repeat(20_000), 'too long'],
  ])('null for %s (%s)', (value) => {
    expect(firstMailbox(value)).toBeNull();
  });
});
