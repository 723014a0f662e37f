// One row per THREATS.md "Headers and addresses" case: the exact addresses a
// reader can see, what is exposed to whom, or the exact refusal.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createAnalyser } from '../../../src/analysis/analyse.js';
import { normaliseLineEndings } from '../../../src/message/line-endings.js';
import { asInput, refusal } from '../../helpers/analysis.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/eml/', import.meta.url));
const analyser = createAnalyser({
  internalDomains: ['example.co.jp', '*.example.co.jp'],
  freemailDomains: ['gmail.com', 'yahoo.co.jp'],
  maxAddresses: 10_000,
  maxHeaderBytes: 1_048_576,
});
const analyse = (message: Buffer, envelope: { mailFrom: string; rcptTo: readonly string[] }) => analyser(asInput(message), envelope);

interface Row {
  readonly fixture: string;
  readonly why?: string;
  readonly rcptTo: readonly string[];
  /** Exact set of visible external addresses (normalised). */
  readonly external?: readonly string[];
  /** Exact set of visible internal addresses (normalised). */
  readonly internal?: readonly string[];
  /** Exact set of exposed external addresses; defaults to `external`. */
  readonly exposed?: readonly string[];
  readonly headers?: readonly string[];
  readonly domainCount?: number;
  readonly error?: { readonly code: number; readonly enhanced: string };
}

const TWO = ['r1@ext98.com', 'r2@ext99.com'];
const BOSS = 'boss@example.co.jp';
const fifty = Array.from({ length: 50 }, (_, i) => `u${i + 1}@ext${i + 1}.com`);
const MALFORMED = { code: 554, enhanced: '5.6.0' };

const rows: readonly Row[] = [
  // The reviewer console's fixtures (test/browser): ordinary exposure, hostile bodies and header markup.
  {
    fixture: 'html-scripts-handlers-javascript-links-meta-refresh-base-css-url-srcset-svg-remote-images',
    rcptTo: ['alice@ext-one.example', 'bob@ext-two.example', 'carol@ext-three.example'],
    external: ['alice@ext-one.example', 'bob@ext-two.example', 'carol@ext-three.example'],
    headers: ['To'],
  },
  {
    fixture: 'markup-in-subject-from-display-names-and-attachment-filenames',
    why: 'markup in display names is a name, not an address',
    rcptTo: ['dave@ext-one.example', 'erin@ext-two.example'],
    external: ['dave@ext-one.example', 'erin@ext-two.example'],
    headers: ['To'],
  },
  { fixture: 'two-to-headers', rcptTo: TWO, external: ['x@ext1.com', 'y@ext2.com'], headers: ['To'] },
  { fixture: 'to-and-cc', rcptTo: ['x@ext1.com', 'y@ext2.com', BOSS], external: ['x@ext1.com', 'y@ext2.com'], internal: [BOSS], headers: ['To', 'Cc'] },
  { fixture: 'groups', rcptTo: TWO, external: ['x@ext1.com', 'y@ext2.com', 'z@ext3.com'], headers: ['To'] },
  { fixture: 'nested-groups', rcptTo: TWO, external: ['x@ext1.com', 'y@ext2.com', 'z@ext3.com', 'w@ext4.com'], headers: ['To', 'Cc'] },
  { fixture: 'empty-group-undisclosed-recipients', why: 'envelope of 50 externals, nothing visible', rcptTo: fifty, external: [], internal: [], headers: [] },
  {
    fixture: 'address-in-display-name',
    why: 'own address not exposed to itself; display-name addresses are',
    rcptTo: ['x@ext1.com'],
    external: ['x@ext1.com', 'bob@ext2.com', 'carol@ext3.com'],
    internal: [BOSS],
    exposed: ['bob@ext2.com', 'carol@ext3.com'],
    headers: ['To'],
  },
  { fixture: 'address-in-comment', rcptTo: [BOSS], external: ['x@ext1.com', 'y@ext2.com', 'z@ext3.com'], internal: [BOSS], headers: ['To', 'Cc'] },
  {
    fixture: 'address-in-display-name-rfc2047-b',
    rcptTo: TWO,
    external: ['x@ext1.com', 'bob@ext2.com', 'yamada@ext3.com'],
    internal: [BOSS],
    headers: ['To', 'Cc'],
  },
  {
    fixture: 'address-in-display-name-rfc2047-q',
    rcptTo: TWO,
    external: ['x@ext1.com', 'bob@ext2.com', 'z@ext3.com'],
    internal: [BOSS],
    headers: ['To', 'Cc'],
  },
  // Readers show a quoted local part without its quotes (postal-mime: `x@ext1.com@example.co.jp`),
  // so the address text inside is visible too, as the group-name class of issue 8 showed.
  {
    fixture: 'quoted-local-part-with-at',
    why: 'a mailbox at the domain after the quotes, and the address text inside them',
    rcptTo: TWO,
    external: ['"y@ext2.com"@ext3.com', 'x@ext1.com', 'y@ext2.com'],
    internal: ['"x@ext1.com"@example.co.jp'],
    headers: ['To', 'Cc'],
  },
  {
    fixture: 'comment-inside-domain',
    why: 'real domains, or external; the text-scan reading c@example.co.jp adds nothing exposed',
    rcptTo: TWO,
    external: ['a@ext1.com', 'b@ext2.com', 'c@example.co.jp.evil.com', 'd@evil'],
    internal: ['c@example.co.jp'],
    headers: ['To'],
  },
  {
    fixture: 'folding-inside-domain',
    rcptTo: TWO,
    external: ['x@ext1.com', 'y@ext2.com', 'z@example.co.jp.evil.com'],
    internal: ['z@example.co.jp'],
    headers: ['To'],
  },
  { fixture: 'addresses-without-commas', rcptTo: TWO, external: ['x@ext1.com', 'y@ext2.com', 'z@ext3.com', 'w@ext4.com'], headers: ['To'] },
  { fixture: 'semicolon-separators', rcptTo: TWO, external: ['x@ext1.com', 'y@ext2.com', 'z@ext3.com'], headers: ['To'] },
  { fixture: 'folded-headers', rcptTo: TWO, external: ['x@ext1.com', 'y@ext2.com', 'z@ext3.com'], headers: ['To'] },
  { fixture: 'resent-to-and-resent-cc', rcptTo: [BOSS], external: ['x@ext1.com', 'y@ext2.com'], internal: [BOSS], headers: ['Resent-To', 'Resent-Cc'] },
  { fixture: 'bcc-header-left-in', rcptTo: [BOSS, 'x@ext1.com', 'y@ext2.com'], external: ['x@ext1.com', 'y@ext2.com'], internal: [BOSS], headers: ['Bcc'] },
  {
    fixture: 'idn-unicode-and-punycode',
    why: 'Unicode and punycode of one domain count once',
    rcptTo: TWO,
    external: ['user@xn--bcher-kva.example', 'other@xn--bcher-kva.example'],
    headers: ['To', 'Cc'],
    domainCount: 1,
  },
  { fixture: 'case-and-trailing-dot-duplicates', rcptTo: TWO, external: ['x@ext1.com'], headers: ['To', 'Cc'] },
  {
    fixture: 'look-alike-domains',
    rcptTo: TWO,
    external: ['x@evilexample.co.jp', 'y@example.co.jp.evil.com', 'w@xn--xample-2of.co.jp', 'v@example-co.jp'],
    internal: ['z@example.co.jp'],
    headers: ['To'],
  },
  {
    fixture: 'internal-subdomains',
    rcptTo: TWO,
    external: [],
    internal: ['a@mail.example.co.jp', 'b@example.co.jp', 'c@deep.sub.example.co.jp', 'd@mail.example.co.jp'],
    headers: [],
  },
  {
    fixture: 'freemail-domain-count',
    why: 'each free-mail address is its own domain',
    rcptTo: TWO,
    external: ['a@gmail.com', 'b@gmail.com', 'c@ext1.com', 'd@ext1.com'],
    headers: ['To'],
    domainCount: 3,
  },
  { fixture: 'fifty-visible-externals', why: 'envelope of 1 (not among them): all 50 exposed', rcptTo: [BOSS], external: fifty, headers: ['To'] },
  {
    fixture: 'fifty-visible-externals',
    why: 'envelope of 1 among them: 49',
    rcptTo: ['U7@Ext7.com'],
    external: fifty,
    exposed: fifty.filter((a) => a !== 'u7@ext7.com'),
    headers: ['To'],
  },
  {
    fixture: 'fifty-visible-externals',
    why: 'envelope of 2: all exposed, own address included',
    rcptTo: ['u7@ext7.com', 'u8@ext8.com'],
    external: fifty,
    headers: ['To'],
  },
  {
    fixture: 'envelope-routing-tricks',
    why: 'percent hack recipient is not x@ext1.com',
    rcptTo: ['x%ext1.com@example.co.jp'],
    external: ['x@ext1.com'],
    headers: ['To'],
  },
  {
    fixture: 'envelope-routing-tricks',
    why: 'bang path recipient is not x@ext1.com',
    rcptTo: ['ext1.com!x@example.co.jp'],
    external: ['x@ext1.com'],
    headers: ['To'],
  },
  {
    fixture: 'envelope-routing-tricks',
    why: 'source route recipient is not x@ext1.com',
    rcptTo: ['@example.co.jp:x@ext1.com'],
    external: ['x@ext1.com'],
    headers: ['To'],
  },
  {
    fixture: 'envelope-routing-tricks',
    why: 'the plain recipient is its own address',
    rcptTo: ['X@EXT1.COM.'],
    external: ['x@ext1.com'],
    exposed: [],
    headers: [],
  },
  {
    fixture: 'bare-cr-smuggling',
    why: 'after normalisation the Cc is a header of its own',
    rcptTo: ['a@example.co.jp'],
    external: ['x@ext1.com', 'y@ext2.com'],
    internal: ['a@example.co.jp'],
    headers: ['Cc'],
  },
  // Issue 8: what a mail client shows beyond To and Cc, and every charset it decodes.
  {
    fixture: 'utf7-encoded-word-in-display-name',
    rcptTo: TWO,
    external: ['x@ext1.com', 'y@ext2.com', 'z@ext3.com'],
    internal: ['list@example.co.jp', BOSS],
    headers: ['To', 'Cc'],
  },
  { fixture: 'iso-2022-jp-raw-in-display-name', rcptTo: TWO, external: ['x@ext1.com', 'y@ext2.com'], internal: ['list@example.co.jp'], headers: ['To'] },
  {
    fixture: 'format-characters-next-to-at',
    rcptTo: TWO,
    external: ['x@ext1.com', 'y@ext2.com', 'z@ext3.com', 'w@ext4.com'],
    internal: ['list@example.co.jp'],
    headers: ['To'],
  },
  {
    fixture: 'compatibility-forms-of-at-and-dot',
    rcptTo: TWO,
    external: ['x@ext1.com', 'y@ext2.com', 'z@ext3.com'],
    internal: ['list@example.co.jp'],
    headers: ['To'],
  },
  { fixture: 'address-in-group-name-quote-before-at', rcptTo: TWO, external: ['x@ext1.com', 'y@ext2.com', 'z@ext3.com'], headers: ['To', 'Cc'] },
  {
    fixture: 'reply-to-lists-members',
    rcptTo: TWO,
    external: ['x@ext1.com', 'y@ext2.com', 'z@ext3.com'],
    internal: ['list@example.co.jp'],
    headers: ['Reply-To'],
  },
  {
    fixture: 'mail-followup-to-lists-members',
    rcptTo: TWO,
    external: ['x@ext1.com', 'y@ext2.com'],
    internal: ['list@example.co.jp'],
    headers: ['Mail-Followup-To'],
  },
  { fixture: 'resent-bcc-lists-members', rcptTo: TWO, external: ['x@ext1.com', 'y@ext2.com'], internal: ['list@example.co.jp'], headers: ['Resent-Bcc'] },
  {
    fixture: 'from-with-several-addresses',
    why: 'From counts when it holds more than one address; the single Sender does not',
    rcptTo: TWO,
    external: ['x@ext1.com', 'y@ext2.com'],
    internal: ['news@example.co.jp', 'list@example.co.jp'],
    headers: ['From'],
  },
  {
    fixture: 'japanese-display-names-clean',
    why: 'ISO-2022-JP, Shift_JIS and UTF-8 names: one external, own recipient',
    rcptTo: ['x@ext1.com'],
    external: ['x@ext1.com'],
    internal: ['staff@example.co.jp', BOSS],
    exposed: [],
    headers: [],
  },
  { fixture: 'undecodable-charset-encoded-word', rcptTo: TWO, error: MALFORMED },
  { fixture: 'nul-byte-in-body', why: 'mail-guard check used to pass what the proxy refused', rcptTo: TWO, error: MALFORMED },
  { fixture: 'malformed-bom', rcptTo: TWO, error: MALFORMED },
  { fixture: 'malformed-space-in-name', rcptTo: TWO, error: MALFORMED },
  { fixture: 'malformed-colon-less-line', rcptTo: TWO, error: MALFORMED },
  { fixture: 'malformed-first-line-whitespace', rcptTo: TWO, error: MALFORMED },
  { fixture: 'malformed-nul', rcptTo: TWO, error: MALFORMED },
  { fixture: 'malformed-encoded-word-in-addr-spec', rcptTo: TWO, error: MALFORMED },
];

const load = (name: string): Buffer => normaliseLineEndings(readFileSync(`${FIXTURES}${name}.eml`));
const sorted = (xs: readonly string[]): string[] => [...xs].sort();

describe('fixtures: headers and addresses', () => {
  it('every fixture file has a row and every row a fixture', () => {
    const files = readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.eml'))
      .map((f) => f.slice(0, -4));
    expect(sorted([...new Set(rows.map((r) => r.fixture))])).toEqual(sorted(files));
  });

  it.each(rows.map((r) => [`${r.fixture}${r.why ? ` (${r.why})` : ''}`, r] as const))('%s', (_name, row) => {
    const message = load(row.fixture);
    const run = () => analyse(message, { mailFrom: 'news@example.co.jp', rcptTo: row.rcptTo });
    if (row.error) {
      expect(refusal(run())).toEqual(row.error);
      return;
    }
    const analysis = run();
    expect(analysis.findings).toEqual([]);
    const { exposure } = analysis;
    const external = exposure.visible.filter((v) => !v.internal).map((v) => v.address);
    const internal = exposure.visible.filter((v) => v.internal).map((v) => v.address);
    expect(sorted(external)).toEqual(sorted(row.external ?? []));
    if (row.internal) expect(sorted(internal)).toEqual(sorted(row.internal));
    expect(exposure.visibleExternalCount).toBe(external.length);
    expect(sorted(exposure.exposedExternal)).toEqual(sorted(row.exposed ?? row.external ?? []));
    expect(exposure.exposingHeaders).toEqual(row.headers);
    if (row.domainCount !== undefined) expect(exposure.exposedExternalDomainCount).toBe(row.domainCount);
    expect(exposure.truncated).toBe(false);
  });
});

describe('fixtures: what else the analysis reports', () => {
  it('bare CR is refused when the caller skipped normalisation', () => {
    const raw = readFileSync(`${FIXTURES}bare-cr-smuggling.eml`);
    expect(analyse(raw, { mailFrom: '', rcptTo: TWO }).findings).toEqual([{ kind: 'malformed', why: 'bare CR or LF in the header block' }]);
  });

  it('reads From, Subject and Message-ID, and says where each address was found', () => {
    const r = analyse(load('address-in-display-name-rfc2047-b'), { mailFrom: '', rcptTo: TWO });
    expect(r.headerFrom).toEqual({ address: 'news@example.co.jp', domain: 'example.co.jp' });
    expect(r.subject).toBe('fixture');
    expect(r.messageId).toBe('<fixture@example.co.jp>');
    const byAddress = new Map(r.exposure.visible.map((v) => [v.address, v]));
    expect(byAddress.get('x@ext1.com')).toMatchObject({ foundIn: 'address', headers: ['To'], domain: 'ext1.com' });
    expect(byAddress.get('yamada@ext3.com')).toMatchObject({ foundIn: 'text', headers: ['Cc'] });
    expect(r.exposure.addressesSeen).toBe(4);
  });

  it('a duplicate in two headers is one address listed under both', () => {
    const r = analyse(load('case-and-trailing-dot-duplicates'), { mailFrom: '', rcptTo: TWO });
    expect(r.exposure.visible).toEqual([{ address: 'x@ext1.com', domain: 'ext1.com', internal: false, headers: ['To', 'Cc'], foundIn: 'address' }]);
  });

  it('an empty envelope (offline check) excludes nobody', () => {
    const r = analyse(load('fifty-visible-externals'), { mailFrom: '', rcptTo: [] });
    expect(r.exposure.exposedExternal).toHaveLength(50);
  });
});
