import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { escapeHtml, html as template } from '../../../../src/admin/ui/html.js';

// Not named `html` here: Prettier formats templates tagged html, and these compare exact output.
const h = template;
import { createSessionKeeper, SESSION_TTL_MS } from '../../../../src/admin/ui/session.js';
import { chooseLanguage, STRINGS, translator } from '../../../../src/admin/ui/strings.js';

describe('html template', () => {
  it('escapes every interpolation, nested templates stay markup', () => {
    const name = `<img src=x onerror="alert('x')">&`;
    expect(h`<p title="${name}">${name}</p>`.value).toBe(
      '<p title="&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;">&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;</p>',
    );
    expect(h`<ul>${['<a>', h`<li>ok</li>`]}</ul>`.value).toBe('<ul>&lt;a&gt;<li>ok</li></ul>');
    expect(h`${null}${undefined}${false}${0}`.value).toBe('0');
    expect(escapeHtml('`')).toBe('&#96;');
  });
});

describe('strings', () => {
  it('has every key in both languages, none empty, placeholders the same', () => {
    const keys = Object.keys(STRINGS.en).sort();
    expect(Object.keys(STRINGS.ja).sort()).toEqual(keys);
    for (const key of keys) {
      const en = STRINGS.en[key as keyof typeof STRINGS.en];
      const ja = STRINGS.ja[key as keyof typeof STRINGS.ja];
      expect(ja.trim(), key).not.toBe('');
      expect((ja.match(/\{\w+\}/g) ?? []).sort(), key).toEqual((en.match(/\{\w+\}/g) ?? []).sort());
    }
    expect(translator('ja')('done.approve', { ok: 3, n: 5 })).toBe('5 通中 3 通を承認しました。');
  });

  it('takes the cookie first, then Accept-Language by weight, else English', () => {
    expect(chooseLanguage('ja', 'en-US')).toBe('ja');
    expect(chooseLanguage(undefined, 'ja-JP,ja;q=0.9,en;q=0.8')).toBe('ja');
    expect(chooseLanguage(undefined, 'fr;q=1, en;q=0.5, ja;q=0.7')).toBe('ja');
    expect(chooseLanguage('xx', 'de')).toBe('en');
    expect(chooseLanguage(undefined, undefined)).toBe('en');
  });
});

describe('console sessions', () => {
  const token = { name: 'alice', role: 'reviewer' as const, tokenSha256: createHash('sha256').update('alice-token').digest('hex') };

  it('match the presented token, round-trip, and expire after the TTL', () => {
    let now = 1_000_000;
    const keeper = createSessionKeeper([token], 's'.repeat(32), () => now);
    expect(keeper.match('wrong')).toBeNull();
    expect(keeper.match('alice-token')).toBe(token);
    const { cookie } = keeper.issue(token);
    expect(keeper.read(cookie)?.actor).toEqual({ name: 'alice', role: 'reviewer' });
    now += SESSION_TTL_MS;
    expect(keeper.read(cookie)).toBeNull();
  });

  it('bind CSRF tokens to one session and refuse cookies signed with another key', () => {
    const keeper = createSessionKeeper([token], 's'.repeat(32));
    const a = keeper.issue(token).session;
    const b = keeper.issue(token).session;
    expect(keeper.checkCsrf(a, keeper.csrfToken(a))).toBe(true);
    expect(keeper.checkCsrf(a, keeper.csrfToken(b))).toBe(false);
    expect(keeper.checkCsrf(a, undefined)).toBe(false);
    const other = createSessionKeeper([token], 't'.repeat(32));
    expect(other.read(keeper.issue(token).cookie)).toBeNull();
    // A random key per process: a second keeper without a secret cannot read the first one's cookies.
    expect(createSessionKeeper([token], undefined).read(createSessionKeeper([token], undefined).issue(token).cookie)).toBeNull();
  });

  it('end when the token changes role', () => {
    const keeper = createSessionKeeper([token], 's'.repeat(32));
    const { cookie } = keeper.issue(token);
    expect(createSessionKeeper([{ ...token, role: 'approver' }], 's'.repeat(32)).read(cookie)).toBeNull();
  });
});
