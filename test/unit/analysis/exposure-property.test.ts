// THREATS.md "Headers and addresses", as a property (issue 5, point 2): from a
// known set of addresses, render address headers in random syntactic forms
// (plain, <angle>, display names quoted / atom / RFC 2047 B and Q, comments,
// groups incl. empty ones, folding at token boundaries, duplicates, case,
// trailing dots, IDN as Unicode and as punycode, several headers of one name)
// and check the analysis sees exactly the distinct addresses written, each
// classified correctly. Junk of any shape is refused only with a typed 5xx.
import fc from 'fast-check';
import libmime from 'libmime';
import { describe, expect, it } from 'vitest';
import { createAnalyser } from '../../../src/analysis/index.js';
import { normaliseLineEndings } from '../../../src/message/line-endings.js';
import { asInput, refusal } from '../../helpers/analysis.js';

const ENVELOPE = { mailFrom: 'app@example.co.jp', rcptTo: ['boss@example.co.jp'] };

const analyser = createAnalyser({
  internalDomains: ['example.co.jp', '*.example.co.jp'],
  freemailDomains: ['gmail.com'],
  maxAddresses: 10_000,
  maxHeaderBytes: 1_048_576,
});
const analyse = (message: Buffer, envelope: typeof ENVELOPE) => analyser(asInput(message), envelope);

interface KnownDomain {
  /** Normalised: lower-case A-labels, no trailing dot. */
  readonly ascii: string;
  /** Other ways of writing the same domain (Unicode form for IDN). */
  readonly spellings: readonly string[];
  readonly internal: boolean;
}

const d = (ascii: string, internal: boolean, ...unicode: string[]): KnownDomain => ({ ascii, internal, spellings: [ascii, ...unicode] });
const DOMAINS: readonly KnownDomain[] = [
  d('example.co.jp', true),
  d('mail.example.co.jp', true),
  d('deep.sub.example.co.jp', true),
  d('ext1.com', false),
  d('ext-two.org', false),
  d('gmail.com', false),
  // Look-alikes of the internal name stay external.
  d('evilexample.co.jp', false),
  d('example.co.jp.evil.com', false),
  d('example-co.jp', false),
  // IDN: punycode and Unicode of one domain.
  d('xn--bcher-kva.example', false, 'bücher.example'),
  d('xn--mller-kva.de', false, 'müller.de'),
  d('xn--r8jz45g.jp', false, '例え.jp'),
  // An IDN under the internal domain is still internal.
  d('xn--bcher-kva.example.co.jp', true, 'bücher.example.co.jp'),
];

const LOCAL = fc.stringMatching(/^[a-z0-9][a-z0-9+_-]{0,6}(\.[a-z0-9]{1,4})?$/);

interface Mailbox {
  readonly local: string;
  readonly domain: KnownDomain;
}
const MAILBOX: fc.Arbitrary<Mailbox> = fc.record({ local: LOCAL, domain: fc.constantFrom(...DOMAINS) });

const normalised = (m: Mailbox): string => `${m.local}@${m.domain.ascii}`;

/** Random case, one of the spellings, optionally a trailing dot. */
const spelled = (m: Mailbox): fc.Arbitrary<string> =>
  fc
    .record({
      spelling: fc.constantFrom(...m.domain.spellings),
      upper: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
      trailingDot: fc.boolean(),
    })
    .map(({ spelling, upper, trailingDot }) => {
      const flip = (s: string, offset: number) => [...s].map((ch, i) => (upper[(i + offset) % upper.length] ? ch.toUpperCase() : ch)).join('');
      return `${flip(m.local, 0)}@${flip(spelling, 7)}${trailingDot ? '.' : ''}`;
    });

// Display names and comments never hold an '@' (or a look-alike): anything the
// analysis finds must come from the addresses themselves.
const ATOM_NAME = fc.stringMatching(/^[A-Za-z][A-Za-z0-9 ]{0,12}[A-Za-z0-9]$/);
const QUOTED_NAME = fc
  .array(fc.constantFrom(..."abcXYZ 019.,;:<>()[]-_'!".split(''), '\\"', '\\\\', '山', 'ü'), { minLength: 1, maxLength: 14 })
  .map((parts) => parts.join(''));
const UNICODE_NAME = fc.constantFrom('山田 太郎', 'Müller, Jörg', 'Bob "the" Builder', 'Sales (Tokyo); 営業', 'a.b: c', '=?x?=');
const COMMENT_TEXT = fc.stringMatching(/^[A-Za-z0-9 .,;:<>"-]{0,12}$/).map((s) => s.replace(/\\/g, ''));

/** One mailbox in one random syntactic form; FOLD marks where folding may go. */
const FOLD = '\u0000';
const rendered = (m: Mailbox): fc.Arbitrary<string> =>
  spelled(m).chain((addr) =>
    fc.oneof(
      fc.constant(addr),
      fc.constant(`<${addr}>`),
      ATOM_NAME.map((n) => `${n}${FOLD}<${addr}>`),
      QUOTED_NAME.map((n) => `"${n}"${FOLD}<${addr}>`),
      fc.tuple(UNICODE_NAME, fc.constantFrom('B' as const, 'Q' as const)).map(([n, enc]) => `${libmime.encodeWord(n, enc)}${FOLD}<${addr}>`),
      COMMENT_TEXT.map((c) => `${addr}${FOLD}(${c})`),
      COMMENT_TEXT.map((c) => `(${c})${FOLD}<${addr}>`),
      fc.tuple(ATOM_NAME, COMMENT_TEXT).map(([n, c]) => `${n}${FOLD}(${c})${FOLD}<${addr}>`),
    ),
  );

type Item = { readonly kind: 'mailbox'; readonly text: string } | { readonly kind: 'group'; readonly name: string; readonly members: readonly string[] };

const GROUP_NAME = fc.constantFrom('undisclosed-recipients', 'Team', 'G', '"Sales, Tokyo"', '=?UTF-8?B?5Za25qWt?=');

/** The items of one header: mailboxes and groups (possibly empty) of mailboxes. */
function itemsFor(mailboxes: readonly Mailbox[]): fc.Arbitrary<Item[]> {
  if (mailboxes.length === 0) {
    return fc.oneof(
      fc.constant([] as Item[]),
      GROUP_NAME.map((name) => [{ kind: 'group', name, members: [] } as Item]),
    );
  }
  return fc
    .tuple(
      fc.tuple(...mailboxes.map(rendered)),
      // Where groups start and end: each mailbox either opens/continues a group or stands alone.
      fc.array(fc.constantFrom('alone', 'group', 'group-end'), { minLength: mailboxes.length, maxLength: mailboxes.length }),
      GROUP_NAME,
      fc.boolean(),
    )
    .map(([texts, shape, name, emptyGroupToo]) => {
      const items: Item[] = [];
      let open: { name: string; members: string[] } | null = null;
      texts.forEach((text, i) => {
        if (shape[i] === 'alone') {
          if (open) items.push({ kind: 'group', ...open });
          open = null;
          items.push({ kind: 'mailbox', text });
        } else {
          open ??= { name, members: [] };
          open.members.push(text);
          if (shape[i] === 'group-end') {
            items.push({ kind: 'group', ...open });
            open = null;
          }
        }
      });
      if (open) items.push({ kind: 'group', ...(open as { name: string; members: string[] }) });
      if (emptyGroupToo) items.push({ kind: 'group', name: 'undisclosed-recipients', members: [] });
      return items;
    });
}

/** Joins items with ',' / ';' and replaces FOLD marks and some separators by folds or spaces. */
function headerValue(items: readonly Item[], folds: readonly boolean[], semicolons: boolean): string {
  let f = 0;
  const ws = (): string => (folds[f++ % folds.length] ? '\r\n ' : ' ');
  const sep = semicolons ? ';' : ',';
  const render = (text: string) => text.split(FOLD).join('\u0001');
  const parts = items.map((item) => (item.kind === 'mailbox' ? render(item.text) : `${item.name}:\u0001${item.members.map(render).join(`,\u0001`)};`));
  // A semicolon list only where no group follows or precedes (a ';' would close a group).
  const joiner = semicolons && items.every((i) => i.kind === 'mailbox') ? sep : ',';
  return ' ' + parts.join(`${joiner}\u0001`).replaceAll('\u0001', ws);
}

const HEADER_NAMES = ['To', 'Cc', 'Bcc', 'Resent-To', 'Resent-Cc'] as const;
const nameCase = (name: string, upper: boolean) => (upper ? name.toUpperCase() : name);

interface Scenario {
  readonly message: string;
  readonly expectedExternal: string[];
  readonly expectedInternal: string[];
}

const SCENARIO: fc.Arbitrary<Scenario> = fc.array(MAILBOX, { minLength: 0, maxLength: 12 }).chain((known) =>
  fc
    .tuple(
      // Every occurrence is a known mailbox; duplicates (and differently spelled duplicates) on purpose.
      fc.array(fc.nat({ max: Math.max(0, known.length - 1) }), { minLength: known.length === 0 ? 0 : 1, maxLength: 20 }),
      fc.integer({ min: 1, max: 6 }),
    )
    .chain(([picks, headerCount]) => {
      const occurrences = known.length === 0 ? [] : picks.map((i) => known[i]!);
      return fc
        .tuple(
          fc.array(fc.nat({ max: headerCount - 1 }), { minLength: occurrences.length, maxLength: occurrences.length }),
          fc.array(fc.constantFrom(...HEADER_NAMES), { minLength: headerCount, maxLength: headerCount }),
          fc.array(fc.boolean(), { minLength: headerCount, maxLength: headerCount }),
        )
        .chain(([where, names, upperNames]) => {
          const perHeader = names.map((_, h) => occurrences.filter((_, i) => where[i] === h));
          return fc
            .tuple(fc.tuple(...perHeader.map(itemsFor)), fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }), fc.boolean())
            .map(([itemLists, folds, semicolons]) => {
              const lines = [
                'From: App <app@example.co.jp>',
                ...itemLists.map((items, h) => `${nameCase(names[h]!, upperNames[h]!)}:${headerValue(items, folds, semicolons)}`),
                'Subject: property',
                '',
                'body mentioning someone@else.example in the body, which is never counted',
                '',
              ];
              const all = [...new Set(occurrences.map(normalised))];
              const internal = new Set(occurrences.filter((m) => m.domain.internal).map(normalised));
              return {
                message: lines.join('\r\n'),
                expectedExternal: all.filter((a) => !internal.has(a)).sort(),
                expectedInternal: [...internal].sort(),
              };
            });
        });
    }),
);

describe('exposure analysis: a known set of addresses in random syntactic forms', () => {
  it('finds exactly the distinct addresses written, each classified internal or external', () => {
    fc.assert(
      fc.property(SCENARIO, ({ message, expectedExternal, expectedInternal }) => {
        const { exposure } = analyse(normaliseLineEndings(Buffer.from(message, 'utf8')), ENVELOPE);
        const external = exposure.visible
          .filter((v) => !v.internal)
          .map((v) => v.address)
          .sort();
        const internal = exposure.visible
          .filter((v) => v.internal)
          .map((v) => v.address)
          .sort();
        expect(external).toEqual(expectedExternal);
        expect(internal).toEqual(expectedInternal);
        expect(exposure.visibleExternalCount).toBe(expectedExternal.length);
        // boss@example.co.jp (the only envelope recipient) is internal, so every external one is exposed.
        expect([...exposure.exposedExternal].sort()).toEqual(expectedExternal);
        expect(exposure.truncated).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  it('renders what it claims: a hand-written sample of the forms is read the same way', () => {
    const message = [
      'To: "Doe, J." <J.Doe@EXT1.COM.>, (note) <a@bücher.example>,',
      ' undisclosed-recipients:;, =?UTF-8?B?5bGx55Sw?= <b@mail.example.co.jp>',
      'CC: Team: x@xn--bcher-kva.example (c), a@XN--BCHER-KVA.EXAMPLE;',
      'Resent-Cc: =?utf-8?q?M=C3=BCller?=',
      ' <m@müller.de>',
      '',
      '',
    ].join('\r\n');
    const { exposure } = analyse(normaliseLineEndings(Buffer.from(message, 'utf8')), ENVELOPE);
    expect(exposure.visible.map((v) => [v.address, v.internal]).sort()).toEqual([
      ['a@xn--bcher-kva.example', false],
      ['b@mail.example.co.jp', true],
      ['j.doe@ext1.com', false],
      ['m@xn--mller-kva.de', false],
      ['x@xn--bcher-kva.example', false],
    ]);
  });
});

/** Runs the analyser (it must not throw) and returns the refusal its findings get, null when none. */
function outcome(message: Buffer): ReturnType<typeof refusal> {
  const analysis = analyse(normaliseLineEndings(message), ENVELOPE);
  const refused = refusal(analysis, ENVELOPE);
  // Any finding is a refusal: nothing the analysis could not read may be judged on its counts.
  expect(refused === null).toBe(analysis.findings.length === 0);
  return refused;
}

function expectTypedRefusal(refused: ReturnType<typeof refusal>): void {
  if (refused === null) return;
  const { code, enhanced } = refused;
  expect(code).toBeGreaterThanOrEqual(500);
  expect(code).toBeLessThan(600);
  expect(enhanced).toMatch(/^5\.\d\.\d$/);
}

// Characters that matter to the address grammar, encoded words and folding.
const SPICY = fc.constantFrom(
  ...'@"()<>,;:\\.[]=? \t-_aZ9'.split(''),
  '\r\n ',
  '\r\n',
  '\n',
  '\r',
  '\0',
  '=?',
  '?=',
  '=?UTF-8?B?',
  '=?utf-8?q?',
  '=?x?b?',
  '?Q?',
  '=C3',
  '=ZZ',
  '\uFF20',
  '\uFE6B',
  '。',
  'ü',
  '例',
  '\uD83D\uDE00',
  '\uD800',
  'xn--',
  'example.co.jp',
  'ext.com',
  '((((',
  '))))',
  '""',
  '\\"',
);

describe('exposure analysis: junk never escapes as anything but a typed 5xx refusal', () => {
  it.each(HEADER_NAMES)('arbitrary text in %s', (name) => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.string({ unit: 'grapheme', maxLength: 100 }),
          fc.string({ unit: 'binary', maxLength: 100 }),
          fc.array(SPICY, { maxLength: 60 }).map((xs) => xs.join('')),
        ),
        (junk) => {
          expectTypedRefusal(outcome(Buffer.from(`From: a@example.co.jp\r\n${name}: ${junk}\r\nSubject: x\r\n\r\nbody\r\n`, 'utf8')));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes as the whole message, and as a header value', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, asValue) => {
        const message = asValue ? Buffer.concat([Buffer.from('To: '), Buffer.from(bytes), Buffer.from('\r\n\r\nx')]) : Buffer.from(bytes);
        expectTypedRefusal(outcome(message));
      }),
      { numRuns: 400 },
    );
  });

  it('arbitrary text in From and Subject (read, not counted)', () => {
    fc.assert(
      fc.property(
        fc.array(SPICY, { maxLength: 60 }).map((xs) => xs.join('')),
        fc.string({ unit: 'binary', maxLength: 80 }),
        (from, subject) => {
          expectTypedRefusal(outcome(Buffer.from(`From: ${from}\r\nSubject: ${subject}\r\nTo: a@ext.com\r\n\r\n`, 'utf8')));
        },
      ),
      { numRuns: 300 },
    );
  });
});
