// The pure analysis stage: message bytes in, facts and findings out. It runs
// on every message, so everything that depends only on the config is built
// once in createAnalyser, and the body is only searched for a NUL byte.
// Nothing here decides or replies: decide() turns findings into a Verdict.

import { extractAddresses, firstMailbox, simpleMailbox, type AddressBudget, type FoundAddress } from './addresses.js';
import { countedHeaderTable, type CountedHeader, type CountedHeaderTable } from './counted-headers.js';
import { makeDomainClassifier, normaliseAddress, normaliseDomain, type NormalisedAddress } from './domain.js';
import type { ExposureReport } from './exposure-report.js';
import type { Finding } from './findings.js';
import { parseHeaderBlock, rawValue, type HeaderBlock, type HeaderField } from './header-block.js';
import { readerText } from './header-text.js';
import { HeaderTooBigError, MalformedHeaderError } from './malformed.js';
import { buildReport, type Envelope, type Seen } from './report.js';

export type { Envelope } from './report.js';

export interface AnalysisOptions {
  readonly internalDomains: readonly string[];
  readonly freemailDomains: readonly string[];
  readonly maxAddresses: number;
  readonly maxHeaderBytes: number;
  /** policy.extraHeaders: more headers whose addresses count. */
  readonly extraHeaders?: readonly string[];
}

/** The message as it will be forwarded: the whole header block in `head` (MessageBytes fits). */
export interface AnalysisInput {
  readonly head: Buffer;
  readonly rest: readonly Buffer[];
}

/** One instance of a counted header: what a rewrite decides on. */
export interface CountedField {
  readonly field: HeaderField;
  readonly header: CountedHeader;
  /**
   * The addresses found in it, for the headers a rewrite judges by their
   * addresses (onCopy keep-if-harmless); empty for the others, which a rewrite
   * replaces or keeps whatever they hold.
   */
  readonly addresses: readonly { readonly address: string; readonly internal: boolean }[];
}

export interface MessageAnalysis {
  /** Empty for a message that may be judged on its exposure alone. */
  readonly findings: readonly Finding[];
  readonly exposure: ExposureReport;
  /** No fields when the header block could not be read. */
  readonly header: HeaderBlock;
  /** Every instance of a counted header, in message order (also From/Sender with one address). */
  readonly countedFields: readonly CountedField[];
  readonly headerFrom: NormalisedAddress | null;
  readonly messageId: string | null;
  /** RFC 2047-decoded, trimmed. */
  readonly subject: string | null;
}

// The subject is shown, not checked: an undecodable one is kept as written
// rather than refusing the message over it.
function decodeSubject(value: string): string {
  if (!value.includes('=?') && !value.includes('\x1b') && !value.includes('\ufffd')) return value.trim();
  const decoded = readerText(value);
  return (decoded.ok ? decoded.text : value).trim();
}

interface Census {
  /** '@' count over the counted headers, stopping once it passes the cap. */
  readonly ats: number;
  /** Bits (table index) of From/Sender-like headers that appear more than once: two From lines are two authors to no one. */
  readonly repeatedBits: number;
}

/**
 * One pass over the fields before any parsing, without allocating. A From or
 * Sender with a single '@' can hold one address at most: the author, not a
 * list, so it takes nothing of the budget.
 */
function takeCensus(header: HeaderBlock, table: CountedHeaderTable, stopAbove: number): Census {
  let ats = 0;
  let seenBits = 0;
  let repeatedBits = 0;
  for (const field of header.fields) {
    const index = table.index.get(field.lowerName);
    if (index === undefined) continue;
    let here = 0;
    for (let i = field.value.indexOf('@'); i !== -1 && ats + here <= stopAbove; i = field.value.indexOf('@', i + 1)) here++;
    if (table.headers[index]!.when === 'several') {
      const bit = 1 << index;
      if (seenBits & bit) repeatedBits |= bit;
      seenBits |= bit;
      if (here <= 1) continue;
    }
    ats += here;
  }
  return { ats, repeatedBits };
}

function hasNul(message: AnalysisInput): boolean {
  return message.head.includes(0) || message.rest.some((chunk) => chunk.includes(0));
}

const NO_HEADER: HeaderBlock = { fields: [], bodyOffset: 0 };
const NO_ADDRESSES: CountedField['addresses'] = [];

/**
 * Builds the analyser for one configuration. `message` must be CRLF-normalised
 * (normaliseLineEndings) already. The returned function never throws for any
 * input bytes: what is wrong with a message is a finding.
 */
export function createAnalyser(options: AnalysisOptions): (message: AnalysisInput, envelope: Envelope) => MessageAnalysis {
  const isInternal = makeDomainClassifier(options.internalDomains);
  const freemail = new Set(options.freemailDomains.map(normaliseDomain));
  const table = countedHeaderTable(options.extraHeaders);
  const { maxAddresses, maxHeaderBytes } = options;
  const emptyReport = (envelope: Envelope): ExposureReport => buildReport(table, new Map(), envelope, freemail, false, 0);
  const unread = (envelope: Envelope, finding: Finding): MessageAnalysis => ({
    findings: [finding],
    exposure: emptyReport(envelope),
    header: NO_HEADER,
    countedFields: [],
    headerFrom: null,
    messageId: null,
    subject: null,
  });

  return (message, envelope) => {
    // A NUL is a line ending to no one, but "\r\n\0.\r\n" is an end of DATA to a
    // receiver that drops NULs first: nothing can be smuggled past us that way.
    if (hasNul(message)) return unread(envelope, { kind: 'nul-byte' });
    let header: HeaderBlock;
    try {
      header = parseHeaderBlock(message.head, maxHeaderBytes);
    } catch (err) {
      if (err instanceof HeaderTooBigError) return unread(envelope, { kind: 'header-too-big', maxBytes: err.maxBytes });
      if (err instanceof MalformedHeaderError) return unread(envelope, { kind: 'malformed', why: err.why });
      throw err;
    }

    const findings: Finding[] = [];
    const budget: AddressBudget = { remaining: maxAddresses };
    const seen = new Map<string, Seen>();
    const countedFields: CountedField[] = [];
    let headerFrom: NormalisedAddress | null = null;
    let fromDone = false;
    let messageId: string | null = null;
    let subject: string | null = null;

    // Every structured address carries a literal '@': more of them in the
    // counted headers than the cap means a reject whatever the details are,
    // so e.g. 20,000 To lines are refused without parsing 10,000 of them.
    const census = takeCensus(header, table, maxAddresses);
    let truncated = census.ats > maxAddresses;
    if (truncated) budget.remaining = 0;

    // `judged`: keep the field's addresses for the rewrite (keep-if-harmless headers only).
    const count = (bit: number, found: readonly FoundAddress[], judged: boolean): CountedField['addresses'] => {
      const addresses: { address: string; internal: boolean }[] = [];
      for (const f of found) {
        const n = normaliseAddress(f.address);
        if (n === null) continue;
        const s = seen.get(n.address);
        if (s) {
          s.headerBits |= bit;
          if (f.foundIn === 'address') s.foundIn = 'address';
          if (judged) addresses.push({ address: n.address, internal: s.internal });
        } else {
          const internal = isInternal(n.domain);
          if (bit !== 0) seen.set(n.address, { address: n.address, domain: n.domain, internal, headerBits: bit, foundIn: f.foundIn });
          if (judged) addresses.push({ address: n.address, internal });
        }
      }
      return addresses;
    };

    try {
      for (const field of header.fields) {
        const lower = field.lowerName;
        // The plain one-address form, read once for the From rules and for counting.
        let author: string | null | undefined;
        if (lower === 'from' && !fromDone) {
          fromDone = true;
          author = simpleMailbox(field.value);
          const first = author ?? firstMailbox(field.value);
          headerFrom = first === null ? null : normaliseAddress(first);
        } else if (lower === 'message-id' && messageId === null) {
          messageId = field.value.trim() || null;
        } else if (lower === 'subject' && subject === null) {
          subject = decodeSubject(field.value);
        }

        const index = table.index.get(lower);
        // Past the cap nothing more is parsed: the counts are lower bounds and
        // the policy refuses the message on the address-budget finding.
        if (index === undefined || truncated) continue;
        const counted = table.headers[index]!;
        const alwaysCounts = counted.when === 'always' || (census.repeatedBits & (1 << index)) !== 0;
        // A From as most mailers write it holds one address: the author, not a list.
        if (!alwaysCounts && author === undefined) author = simpleMailbox(field.value);
        const judged = counted.onCopy === 'keep-if-harmless';
        if (!alwaysCounts && author) {
          countedFields.push({ field, header: counted, addresses: judged ? count(0, [{ address: author, foundIn: 'address' }], true) : NO_ADDRESSES });
          continue;
        }
        const raw = field.value.includes('\ufffd') ? rawValue(message.head, field) : undefined;
        const found = extractAddresses(field.value, budget, raw);
        truncated = found.truncated;
        const counts = alwaysCounts || distinctCount(found.addresses) > 1;
        countedFields.push({ field, header: counted, addresses: count(counts ? 1 << index : 0, found.addresses, judged) });
      }
    } catch (err) {
      if (!(err instanceof MalformedHeaderError)) throw err;
      findings.push({ kind: 'malformed', why: err.why });
    }
    if (truncated) findings.push({ kind: 'address-budget', max: maxAddresses });

    return {
      findings,
      exposure: buildReport(table, seen, envelope, freemail, truncated, maxAddresses - budget.remaining),
      header,
      countedFields,
      headerFrom,
      messageId,
      subject,
    };
  };
}

function distinctCount(found: readonly FoundAddress[]): number {
  const distinct = new Set<string>();
  for (const f of found) {
    const n = normaliseAddress(f.address);
    if (n !== null) distinct.add(n.address);
  }
  return distinct.size;
}
