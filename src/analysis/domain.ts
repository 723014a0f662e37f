// One domain normaliser for everything (THREATS.md principle 3): if two code
// paths normalised differently, an address could be internal to one and
// external to the other. Internal must be provable; anything else is external.

import { domainToASCII } from 'node:url';
import { asRead } from './header-text.js';

// eslint-disable-next-line no-control-regex -- C0 controls are among the characters the URL parser treats specially
const URL_SPECIAL = /[\x00-\x20\x7f%/?#\\:@<>^|"[\]]/;

/**
 * Trim, drop ONE trailing dot, UTS-46 to lower-case A-labels. When the domain
 * is not a valid IDN (domainToASCII gives ''), the lower-cased input is kept:
 * it is still an address someone can see, and the classifier never calls it
 * internal. Not idempotent on purpose ("a.com.." keeps a dot), so normalise once.
 */
export function normaliseDomain(domain: string): string {
  // Mail goes to the same few domains over and over, and domainToASCII was the
  // most expensive step of a typical analysis. Bounded: cleared when full.
  const cached = normalised.get(domain);
  if (cached !== undefined) return cached;
  const result = normaliseUncached(domain);
  if (normalised.size >= CACHE_LIMIT) normalised.clear();
  normalised.set(domain, result);
  return result;
}

const CACHE_LIMIT = 10_000;
const normalised = new Map<string, string>();

function normaliseUncached(domain: string): string {
  let d = domain.trim();
  if (d.endsWith('.')) d = d.slice(0, -1);
  // domainToASCII is the WHATWG URL host parser: it percent-decodes
  // ("example%2eco%2ejp"), cuts at '/', '?', '#', '\\' and drops tabs, any of
  // which could turn garbage into an internal name. Such text is no domain.
  if (URL_SPECIAL.test(d)) return d.toLowerCase();
  const ascii = domainToASCII(d);
  return (ascii === '' ? d : ascii).toLowerCase();
}

// What a normalised, valid domain looks like: non-empty LDH labels (and '_',
// which domainToASCII lets through). Fallback output of normaliseDomain such
// as "a..example.co.jp" or "[1.2.3.4]" fails this and so stays external.
const VALID_A_LABELS = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;

/**
 * Entries are exact domains, or "*.example.co.jp" for strict subdomains only.
 * The returned function takes a domain that went through normaliseDomain.
 */
export function makeDomainClassifier(internalDomains: readonly string[]): (domain: string) => boolean {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const entry of internalDomains) {
    const trimmed = entry.trim();
    if (trimmed.startsWith('*.')) {
      const base = normaliseDomain(trimmed.slice(2));
      if (VALID_A_LABELS.test(base)) suffixes.push('.' + base);
    } else {
      const d = normaliseDomain(trimmed);
      if (VALID_A_LABELS.test(d)) exact.add(d);
    }
  }
  return (domain: string): boolean => {
    if (exact.has(domain)) return true;
    if (suffixes.length === 0 || !VALID_A_LABELS.test(domain)) return false;
    // The leading dot in the suffix is what keeps "evilexample.co.jp" out, and
    // the valid-labels test above keeps out ".example.co.jp" and "a..example.co.jp".
    for (const s of suffixes) if (domain.endsWith(s)) return true;
    return false;
  };
}

export interface NormalisedAddress {
  readonly address: string;
  readonly domain: string;
}

// A quoted local part that needs no quotes: `"bob"@x` is the mailbox bob@x.
const NEEDLESSLY_QUOTED = /^"([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"$/;

/**
 * Format characters removed and NFKC applied (header-text asRead), then splits at the LAST '@' (a quoted local part may hold '@'), lower-cases the
 * local part too (so case variants count once) and normalises the domain.
 * Null when there is no '@' or one side is empty.
 */
export function normaliseAddress(addr: string): NormalisedAddress | null {
  // As a person reads it: `ａ@ext.com` and `a\u200B@ext.com` are a@ext.com.
  const a = asRead(addr.trim());
  const at = a.lastIndexOf('@');
  if (at <= 0 || at === a.length - 1) return null;
  let local = a.slice(0, at).toLowerCase();
  const unquoted = NEEDLESSLY_QUOTED.exec(local);
  if (unquoted) local = unquoted[1]!;
  const domain = normaliseDomain(a.slice(at + 1));
  if (domain === '') return null;
  return { address: `${local}@${domain}`, domain };
}
