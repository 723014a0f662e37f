// Every address a reader can see in one header value: the conservative union of
// a structured parse (nodemailer's addressparser, groups flattened) and a scan
// of the decoded text (display names, comments) for address-like text.
// Work is bounded before the parser runs (THREATS.md principle 8): the parser
// is linear but costs up to ~0.5 us per character on hostile shapes.

import addressparser from 'nodemailer/lib/addressparser';
import { readableText, scanAddressText } from './address-text.js';
import { MalformedHeaderError } from './malformed.js';

export interface FoundAddress {
  /** As found (not normalised); structured addresses keep their quoting. */
  readonly address: string;
  readonly foundIn: 'address' | 'text';
}

/** Shared across all headers of a message; decremented once per distinct item of a value. */
export interface AddressBudget {
  remaining: number;
}

export interface ExtractResult {
  readonly addresses: readonly FoundAddress[];
  /**
   * True when the value holds more address-like items than the budget had
   * left. `addresses` is then incomplete and the message must not pass.
   */
  readonly truncated: boolean;
}

// What may read as an '@' once decoded and NFKC-normalised: worth a second look.
// eslint-disable-next-line no-control-regex -- ESC starts an ISO-2022-JP run; the ASCII range is the point
const MAY_HOLD_AT = /[@\uFF20\uFE6B\x1b]|=\?|[^\x00-\x7f]/;
// An RFC 2047 encoded word has no business inside an addr-spec (RFC 2047 s5):
// some readers would decode it and show, or deliver to, a different address.
const ENCODED_WORD = /=\?[^?\s]*\?[bq]\?[^?\s]*\?=/i;

// Parser input is allowed this many structural characters per '@' (plus a
// constant for groups like "undisclosed-recipients:;"). Real lists use well
// under 10 ('"Doe, John (Sales)" <j@x>, ' has 9); hostile ones such as 50,000
// '(' around one address, or "a,a,a,..." run to thousands.
const SPECIALS_PER_AT = 16;
const SPECIALS_BASE = 256;

// Most headers are a plain list like "a@x.com, <b@y.co.jp>". For those the
// parser and the text scan can only ever agree, and skipping both saves most
// of the per-message cost. Deliberately narrow: no '=' or '?' (encoded words
// take the slow path and its checks), no quotes, comments or display names.
const ATOM_ADDR = "[A-Za-z0-9!#$%&'*+/^_`{|}~-][A-Za-z0-9!#$%&'*+/^_`{|}~.-]*@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.?";
const SIMPLE_ITEM = `[ \\t]*(?:<${ATOM_ADDR}>|${ATOM_ADDR})[ \\t]*`;
const SIMPLE_LIST = new RegExp(`^${SIMPLE_ITEM}(?:,${SIMPLE_ITEM})*$`);
// A From as most mailers write it: "addr", "<addr>" or "Plain Name <addr>".
const SIMPLE_MAILBOX = new RegExp(`^[ \\t]*(?:[A-Za-z0-9 .'_-]*<(${ATOM_ADDR})>|(${ATOM_ADDR}))[ \\t]*$`);

interface Census {
  ats: number;
  specials: number;
}

function census(value: string): Census {
  let ats = 0;
  let specials = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x40) ats++;
    else if (
      c === 0x28 ||
      c === 0x29 ||
      c === 0x3c ||
      c === 0x3e ||
      c === 0x22 ||
      c === 0x2c ||
      c === 0x3b ||
      c === 0x3a ||
      c === 0x5c ||
      c === 0x5b ||
      c === 0x5d
    )
      specials++;
  }
  return { ats, specials };
}

function tooComplex(c: Census): boolean {
  return c.specials > SPECIALS_PER_AT * c.ats + SPECIALS_BASE;
}

/**
 * Finds every address a reader of this header value can see. `raw` is the
 * value's bytes, read in legacy charsets when they are not UTF-8. Throws
 * MalformedHeaderError for an encoded word inside an addr-spec, a charset
 * nobody can decode, or a value too convoluted to parse within the work bound.
 */
export function extractAddresses(value: string, budget: AddressBudget, raw?: Buffer): ExtractResult {
  const c = census(value);
  // Every structured address carries a literal '@', so more '@' than budget
  // means the cap is reached before any parsing is worth doing. (An '@' in a
  // quoted local part counts too: fail closed beats parsing 50,000 addresses.)
  if (c.ats > budget.remaining) {
    budget.remaining = 0;
    return { addresses: [], truncated: true };
  }

  const found = new Map<string, FoundAddress>();
  let truncated = false;
  const take = (address: string, foundIn: FoundAddress['foundIn']): boolean => {
    const key = address.toLowerCase();
    if (found.has(key)) return true;
    if (budget.remaining <= 0) {
      truncated = true;
      return false;
    }
    budget.remaining--;
    found.set(key, { address, foundIn });
    return true;
  };
  const result = (): ExtractResult => ({ addresses: [...found.values()], truncated });

  if (SIMPLE_LIST.test(value)) {
    for (const item of value.split(',')) {
      const t = item.trim();
      if (!take(t.startsWith('<') ? t.slice(1, -1) : t, 'address')) break;
    }
    return result();
  }

  const names: string[] = [];
  // Without a literal '@' the parser cannot return an address; the text scan
  // still looks at encoded words.
  if (c.ats > 0) {
    if (tooComplex(c)) throw new MalformedHeaderError('an address header too convoluted to check');
    for (const mailbox of addressparser(value, { flatten: true })) {
      if (mailbox.name) names.push(mailbox.name);
      if (!mailbox.address.includes('@')) continue;
      if (ENCODED_WORD.test(mailbox.address)) {
        throw new MalformedHeaderError('an encoded word inside an address');
      }
      if (!take(mailbox.address, 'address')) return result();
    }
  }

  let more = true;
  const fromText = (a: string): boolean => (more = take(a, 'text'));
  scanAddressText(readableText(value, raw), fromText);
  // A second look at the display names as the parser assembled them covers
  // any way its reading differs from ours; only names that can hold an
  // at-sign once decoded are worth it.
  for (let i = 0; i < names.length && more; i++) {
    if (MAY_HOLD_AT.test(names[i]!)) scanAddressText(readableText(names[i]!), fromText);
  }
  return result();
}

// A From header is not counted, only read for policy rules; past these bounds
// it is not worth parsing and the message simply has no usable From.
const MAX_FROM_CHARS = 16_384;

/** The one address of a From as most mailers write it ("addr", "<addr>", "Plain Name <addr>"), or null for anything else. */
export function simpleMailbox(value: string): string | null {
  const simple = SIMPLE_MAILBOX.exec(value);
  return simple ? (simple[1] ?? simple[2] ?? null) : null;
}

/** The first structured mailbox of a From-like header, as written, or null. */
export function firstMailbox(value: string): string | null {
  if (value.length > MAX_FROM_CHARS) return null;
  const simple = simpleMailbox(value);
  if (simple !== null) return simple;
  const c = census(value);
  if (c.ats === 0 || tooComplex(c)) return null;
  for (const mailbox of addressparser(value, { flatten: true })) {
    if (mailbox.address.includes('@')) return mailbox.address;
  }
  return null;
}
