// The pure analysis stage: header bytes in, exposure report out. It runs on
// every message, so everything that depends only on the config is built once
// in createAnalyser, and the body is never touched.

import { extractAddresses, firstMailbox, type AddressBudget } from './addresses.js';
import { decodeEncodedWords } from './address-text.js';
import { makeDomainClassifier, normaliseAddress, normaliseDomain, type NormalisedAddress } from './domain.js';
import type { ExposureReport } from './exposure-report.js';
import { parseHeaderBlock, type HeaderBlock } from './header-block.js';
import { buildReport, HEADER_BIT, type Seen } from './report.js';

export interface AnalysisOptions {
  readonly internalDomains: readonly string[];
  readonly freemailDomains: readonly string[];
  readonly maxAddresses: number;
  readonly maxHeaderBytes: number;
}

export interface Envelope {
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
}

export interface MessageAnalysis {
  readonly exposure: ExposureReport;
  readonly header: HeaderBlock;
  readonly headerFrom: NormalisedAddress | null;
  readonly messageId: string | null;
  /** RFC 2047-decoded, trimmed. */
  readonly subject: string | null;
}

// The subject is shown, not checked: an undecodable one is kept as written
// rather than refusing the message over it.
function decodeSubject(value: string): string {
  try {
    return decodeEncodedWords(value).trim();
  } catch {
    return value.trim();
  }
}

/** '@' count over the visible headers, stopping once it passes `stopAbove`. */
function countVisibleAts(header: HeaderBlock, stopAbove: number): number {
  let ats = 0;
  for (const field of header.fields) {
    if (!HEADER_BIT.has(field.lowerName)) continue;
    for (let i = field.value.indexOf('@'); i !== -1 && ats <= stopAbove; i = field.value.indexOf('@', i + 1)) ats++;
    if (ats > stopAbove) break;
  }
  return ats;
}

/**
 * Builds the analyser for one configuration. The returned function throws
 * SmtpReplyError for malformed (554 5.6.0) or oversized (552 5.3.4) headers.
 * `message` must be CRLF-normalised (normaliseLineEndings) already.
 */
export function createAnalyser(options: AnalysisOptions): (message: Buffer, envelope: Envelope) => MessageAnalysis {
  const isInternal = makeDomainClassifier(options.internalDomains);
  const freemail = new Set(options.freemailDomains.map(normaliseDomain));
  const { maxAddresses, maxHeaderBytes } = options;

  return (message, envelope) => {
    const header = parseHeaderBlock(message, maxHeaderBytes);
    const budget: AddressBudget = { remaining: maxAddresses };
    const seen = new Map<string, Seen>();
    let headerFrom: NormalisedAddress | null = null;
    let fromDone = false;
    let messageId: string | null = null;
    let subject: string | null = null;

    // Every structured address carries a literal '@': more of them in the
    // visible headers than the cap means a reject whatever the details are,
    // so e.g. 20,000 To lines are refused without parsing 10,000 of them.
    let truncated = countVisibleAts(header, maxAddresses) > maxAddresses;
    if (truncated) budget.remaining = 0;

    for (const field of header.fields) {
      const bit = HEADER_BIT.get(field.lowerName);
      if (bit !== undefined) {
        // Past the cap nothing more is parsed: the counts are lower bounds and
        // the policy refuses the message on `truncated`.
        if (truncated) continue;
        const found = extractAddresses(field.value, budget);
        truncated = found.truncated;
        for (const f of found.addresses) {
          const n = normaliseAddress(f.address);
          if (n === null) continue;
          const s = seen.get(n.address);
          if (s) {
            s.headerBits |= bit;
            if (f.foundIn === 'address') s.foundIn = 'address';
          } else {
            seen.set(n.address, { address: n.address, domain: n.domain, internal: isInternal(n.domain), headerBits: bit, foundIn: f.foundIn });
          }
        }
      } else if (field.lowerName === 'from' && !fromDone) {
        fromDone = true;
        const first = firstMailbox(field.value);
        headerFrom = first === null ? null : normaliseAddress(first);
      } else if (field.lowerName === 'message-id' && messageId === null) {
        messageId = field.value.trim() || null;
      } else if (field.lowerName === 'subject' && subject === null) {
        subject = decodeSubject(field.value);
      }
    }

    return {
      exposure: buildReport(seen, envelope, freemail, truncated, maxAddresses - budget.remaining),
      header,
      headerFrom,
      messageId,
      subject,
    };
  };
}
