// The bounds of one scan (THREATS.md principle 8): every step asks here before
// it works, and the first bound reached stops everything after it. The clock
// is the caller's (analysis is pure); it is read between parts and between
// slices of a long text, never per byte.

import type { ContentBound, ContentBoundKind, ContentLimits } from './content-report.js';
import type { SpreadsheetBudget } from './spreadsheet-text.js';

const LIMIT_OF: Readonly<Record<ContentBoundKind, keyof ContentLimits>> = {
  parts: 'maxParts',
  depth: 'maxDepth',
  'decoded-bytes': 'maxDecodedBytes',
  cells: 'maxCells',
  time: 'maxScanMs',
};

export class ScanState {
  bound: ContentBound | null = null;
  /** MIME parts seen so far, nested messages included. */
  parts = 0;
  /** What is left to decode and, for the spreadsheet reader, to read; it decrements it too. */
  readonly budget: SpreadsheetBudget;
  private readonly started: number;
  /** Time, decoded bytes or cells ran out: nothing more is read. (Past parts or depth, what was found is still read.) */
  private exhausted = false;

  constructor(
    readonly limits: ContentLimits,
    private readonly now: () => number,
  ) {
    this.budget = { cells: limits.maxCells, decodedBytes: limits.maxDecodedBytes };
    this.started = now();
  }

  get stopped(): boolean {
    return this.bound !== null;
  }

  stop(kind: ContentBoundKind): void {
    this.bound ??= { kind, limit: this.limits[LIMIT_OF[kind]] };
    if (kind !== 'parts' && kind !== 'depth') this.exhausted = true;
  }

  /** True (and the time bound set) once nothing more may be read: out of time, decoded bytes or cells. */
  outOfTime(): boolean {
    if (!this.exhausted && this.now() - this.started > this.limits.maxScanMs) this.stop('time');
    return this.exhausted;
  }

  /** Takes `size` decoded bytes from the budget: false, and the bound set, when they do not fit. */
  take(size: number): boolean {
    if (this.exhausted) return false;
    if (size > this.budget.decodedBytes) {
      this.stop('decoded-bytes');
      return false;
    }
    this.budget.decodedBytes -= size;
    return true;
  }
}
