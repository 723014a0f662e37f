// Placeholder until the spreadsheet reader lands (issue 14): the signature the
// content scan calls. Replaced by the real bounded XLSX/ODS reader.

export type SpreadsheetKind = 'xlsx' | 'ods';

/** What is left of the message's bounds; the reader decrements it as it reads. */
export interface SpreadsheetBudget {
  cells: number;
  decodedBytes: number;
}

export type SpreadsheetText =
  /** The text of every string cell (and link target), XML entities decoded, in sheet order. */
  | { readonly ok: true; readonly texts: readonly string[]; readonly cells: number }
  | { readonly ok: false; readonly why: 'encrypted' | 'unreadable' }
  /** A bound of the budget was reached: what was read so far is in `texts`. */
  | { readonly ok: false; readonly why: 'bound'; readonly bound: 'cells' | 'decoded-bytes'; readonly texts: readonly string[] };

export function readSpreadsheetText(bytes: Uint8Array, kind: SpreadsheetKind, budget: SpreadsheetBudget): SpreadsheetText {
  void bytes;
  void kind;
  void budget;
  return { ok: false, why: 'unreadable' };
}
