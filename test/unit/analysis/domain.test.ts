import { describe, expect, it } from 'vitest';
import { makeDomainClassifier, normaliseAddress, normaliseDomain } from '../../../src/analysis/domain.js';

describe('normaliseDomain', () => {
  it.each([
    ['EXAMPLE.CO.JP', 'example.co.jp'],
    ['example.co.jp.', 'example.co.jp'],
    ['  Ext.Com  ', 'ext.com'],
    ['ext.com..', 'ext.com.'], // only ONE trailing dot goes
    ['bücher.example', 'xn--bcher-kva.example'],
    ['BÜCHER.EXAMPLE.', 'xn--bcher-kva.example'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['ｅｘａｍｐｌｅ.co.jp', 'example.co.jp'], // UTS-46 width mapping: the same domain
    ['ext\u3002com', 'ext.com'], // ideographic full stop
    ['еxample.co.jp', 'xn--xample-2of.co.jp'], // Cyrillic е: a different domain
  ])('%s -> %s', (input, expected) => {
    expect(normaliseDomain(input)).toBe(expected);
  });

  it.each([
    ['[1.2.3.4]', '[1.2.3.4]'],
    ['a b.com', 'a b.com'],
    ['example%2eco%2ejp', 'example%2eco%2ejp'], // the URL parser would percent-decode this
    ['example.co.jp/evil.com', 'example.co.jp/evil.com'], // ... and cut this at '/'
    ['Exa\tmple.co.jp', 'exa\tmple.co.jp'], // ... and drop the tab
    ['xn--zz.com', 'xn--zz.com'], // invalid punycode
  ])('keeps what is no valid domain, lower-cased: %j', (input, expected) => {
    expect(normaliseDomain(input)).toBe(expected);
  });
});

describe('makeDomainClassifier', () => {
  const isInternal = makeDomainClassifier(['example.co.jp', '*.example.co.jp']);
  const classify = (d: string): boolean => isInternal(normaliseDomain(d));

  it.each(['example.co.jp', 'EXAMPLE.CO.JP.', 'mail.example.co.jp', 'a.b.c.example.co.jp', 'ｍａｉｌ.example.co.jp'])('internal: %s', (d) =>
    expect(classify(d)).toBe(true),
  );

  it.each([
    'evilexample.co.jp',
    'example.co.jp.evil.com',
    'example.co.jp..',
    'example-co.jp',
    'co.jp',
    '.example.co.jp',
    'a..example.co.jp',
    'еxample.co.jp',
    'mail.еxample.co.jp',
    'example%2eco%2ejp',
    'example.co.jp/x',
    '[example.co.jp]',
    'x.example.co.jp/evil.com',
    '',
  ])('external: %j', (d) => expect(classify(d)).toBe(false));

  it('a "*." entry covers strict subdomains only', () => {
    const sub = makeDomainClassifier(['*.example.co.jp']);
    expect(sub('example.co.jp')).toBe(false);
    expect(sub('mail.example.co.jp')).toBe(true);
  });

  it('normalises its entries the same way', () => {
    const c = makeDomainClassifier(['EXAMPLE.CO.JP.', '*.Bücher.Example', '  spaced.example ']);
    expect(c('example.co.jp')).toBe(true);
    expect(c('mail.xn--bcher-kva.example')).toBe(true);
    expect(c('xn--bcher-kva.example')).toBe(false);
    expect(c('spaced.example')).toBe(true);
  });

  it('no entries: nothing is internal', () => {
    expect(makeDomainClassifier([])('example.co.jp')).toBe(false);
  });
});

describe('normaliseAddress', () => {
  it.each([
    ['Bob@Ext.COM.', 'bob@ext.com', 'ext.com'],
    ['"x@ext1.com"@Example.co.jp', '"x@ext1.com"@example.co.jp', 'example.co.jp'],
    ['"Bob"@ext.com', 'bob@ext.com', 'ext.com'],
    ['"a b"@ext.com', '"a b"@ext.com', 'ext.com'],
    ['user@bücher.example', 'user@xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['ユーザー@例え.jp', 'ユーザー@xn--r8jz45g.jp', 'xn--r8jz45g.jp'],
    ['a%ext.com@example.co.jp', 'a%ext.com@example.co.jp', 'example.co.jp'],
  ])('%s', (input, address, domain) => {
    expect(normaliseAddress(input)).toEqual({ address, domain });
  });

  it.each(['', 'abc', '@ext.com', 'abc@', '  @  '])('null for %j', (input) => {
    expect(normaliseAddress(input)).toBeNull();
  });
});
