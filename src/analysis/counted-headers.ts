// The one table of headers whose addresses a recipient can see or reply to.
// Counting (analysis) and rewriting (bcc and split copies) both read it, so a
// header that is counted can never be forgotten by the rewrite that is meant
// to hide it: that is how Reply-To kept every member's address in split copies.

/** When a header's addresses count. */
export type CountedWhen =
  /** Every address in it. */
  | 'always'
  /** Only when it holds more than one distinct address: a single From is just the author. */
  | 'several';

/** What a bcc or split copy does with the header. */
export type OnCopy =
  /** Removed; the copy gets one `To:` of its own (its recipient, or undisclosed-recipients). */
  | 'replace'
  /** Kept when every address in it is internal or the sender's; removed otherwise. */
  | 'keep-if-harmless'
  /** Kept as it is (a copy cannot lose its From); the check before sending holds the message if it still exposes. */
  | 'keep';

export interface CountedHeader {
  /** Canonical spelling, for reports and replies. */
  readonly name: string;
  readonly lowerName: string;
  readonly when: CountedWhen;
  readonly onCopy: OnCopy;
}

const header = (name: string, when: CountedWhen, onCopy: OnCopy): CountedHeader => ({ name, lowerName: name.toLowerCase(), when, onCopy });

/** DESIGN.md "What counts as visible", in the order reports list them. */
export const BUILT_IN_COUNTED_HEADERS: readonly CountedHeader[] = [
  header('To', 'always', 'replace'),
  header('Cc', 'always', 'replace'),
  // Some relays show a Bcc header that was left in the data.
  header('Bcc', 'always', 'replace'),
  header('Resent-To', 'always', 'replace'),
  header('Resent-Cc', 'always', 'replace'),
  header('Resent-Bcc', 'always', 'replace'),
  // Reply and reply-all go there.
  header('Reply-To', 'always', 'keep-if-harmless'),
  header('Mail-Followup-To', 'always', 'keep-if-harmless'),
  header('From', 'several', 'keep'),
  header('Sender', 'several', 'keep'),
];

/** Headers are kept as bits of a number in the report: this many fit with room to spare. */
export const MAX_COUNTED_HEADERS = 30;

export interface CountedHeaderTable {
  /** In report order: built-in first, then `policy.extraHeaders`. */
  readonly headers: readonly CountedHeader[];
  /** lower-case name -> index into `headers` (its bit in the report). */
  readonly index: ReadonlyMap<string, number>;
}

/**
 * The table for one configuration: the built-in headers plus
 * `policy.extraHeaders` (counted always, kept on copies only when harmless).
 * A name that is built in already keeps its built-in entry.
 */
export function countedHeaderTable(extraHeaders: readonly string[] = []): CountedHeaderTable {
  const headers = [...BUILT_IN_COUNTED_HEADERS];
  for (const name of extraHeaders) {
    const lower = name.trim().toLowerCase();
    if (lower === '' || headers.some((h) => h.lowerName === lower)) continue;
    headers.push(header(name.trim(), 'always', 'keep-if-harmless'));
  }
  if (headers.length > MAX_COUNTED_HEADERS)
    throw new RangeError(`at most ${MAX_COUNTED_HEADERS - BUILT_IN_COUNTED_HEADERS.length} extra headers can be counted`);
  return { headers, index: new Map(headers.map((h, i) => [h.lowerName, i])) };
}
