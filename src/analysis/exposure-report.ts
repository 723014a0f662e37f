export interface VisibleAddress {
  /** Normalised: local part as written (lower-cased), domain as lower-case A-labels without trailing dot. */
  readonly address: string;
  readonly domain: string;
  readonly internal: boolean;
  /** Canonical names of the counted headers it was seen in ("To", "Reply-To", …), in table order. */
  readonly headers: readonly string[];
  /** How it was found: the structured address list, or address-like text in a display name / comment / group name. */
  readonly foundIn: 'address' | 'text';
}

export interface ExposureReport {
  /** Every distinct visible address. */
  readonly visible: readonly VisibleAddress[];
  /** Distinct visible external addresses. */
  readonly visibleExternalCount: number;
  /**
   * External addresses that some *other* envelope recipient can see: a copy's own
   * recipient is not an exposure to itself. This is what thresholds compare against.
   */
  readonly exposedExternal: readonly string[];
  /** Distinct "domains" among exposedExternal; a free-mail address counts as its own domain. */
  readonly exposedExternalDomainCount: number;
  /** Header names (canonical case, e.g. "To", "Resent-Cc") that hold an exposed address. */
  readonly exposingHeaders: readonly string[];
  /** True when more than policy.maxAddresses addresses were present: counts are then lower bounds. */
  readonly truncated: boolean;
  /** Number of address-like items seen in the visible headers (bounded by the cap). */
  readonly addressesSeen: number;
}
