// DESIGN.md "Content beyond the headers": what the content scan found, as
// facts. The scan counts the distinct external addresses a recipient can read
// in the parts of a message other than its own header block: forwarded
// messages' headers, text-like and spreadsheet attachments, and the body text.
// decide() turns this into a verdict; nothing here decides.

/** What a part was read as. */
export type ContentCarrier =
  /** The header block of a nested message/rfc822 (a forward) or a text/rfc822-headers part. */
  | 'forwarded-headers'
  /** text/plain shown as the body (inline, no filename). */
  | 'body-text'
  /** text/html shown as the body, read after entity decoding. */
  | 'body-html'
  /** An attachment read as text: text/*, CSV/TSV, vCard, JSON, XML, iCalendar. */
  | 'text-attachment'
  /** XLSX or ODS: the strings of every sheet. */
  | 'spreadsheet';

/** Where in the message a part is: enough for a reviewer to find it, never its content. */
export interface PartPlace {
  /**
   * IMAP section number (RFC 3501 BODY[section]): "1" for a single-part body,
   * "2" for the second child of the root multipart, "2.1" for the first part
   * inside the message/rfc822 that is part 2. A forward's own header block is
   * reported at the message/rfc822 part's number.
   */
  readonly part: string;
  /** Lower-case type/subtype as declared (text/plain when absent). */
  readonly contentType: string;
  /** Decoded filename (Content-Disposition filename, else Content-Type name), or null. */
  readonly filename: string | null;
}

export interface ContentLocation extends PartPlace {
  readonly carrier: ContentCarrier;
  /** Distinct external addresses read in this part (the sole envelope recipient not counted). */
  readonly externalCount: number;
  /**
   * Those addresses, normalised, the first MAX_LISTED_PER_LOCATION of them:
   * for the masked list a reviewer sees. Never logged or shown unmasked
   * unless log.showAddresses.
   */
  readonly addresses: readonly string[];
}

/** A part the scan did not read, and why: listed in the report so a reviewer knows it was not looked at. */
export interface UninspectedPart extends PartPlace {
  /**
   * archive: ZIP (and other archives) are not opened;
   * encrypted: S/MIME or PGP encryption, a password-protected ZIP entry or an
   * encrypted Office file: flagged, never guessed at;
   * unreadable: a carrier that could not be decoded (broken base64, a
   * spreadsheet that is not a valid ZIP).
   */
  readonly why: 'archive' | 'encrypted' | 'unreadable';
}

/** Which bound stopped the scan; the message is then held, never passed. */
export type ContentBoundKind = 'parts' | 'depth' | 'decoded-bytes' | 'cells' | 'time';

export interface ContentBound {
  readonly kind: ContentBoundKind;
  /** The configured limit (policy.content.limits). */
  readonly limit: number;
}

export type ContentReport =
  /**
   * The cheap pre-scan of the raw bytes showed the message cannot hold more
   * than `atMost` addresses outside its header block (at most that many
   * at-signs in any form, in the parts that can carry text): nothing was decoded.
   */
  | { readonly scanned: false; readonly atMost: number }
  | {
      readonly scanned: true;
      /** Distinct external addresses over all locations (an address in two parts counts once). */
      readonly externalCount: number;
      /** Only parts where an external address was found, in message order. */
      readonly locations: readonly ContentLocation[];
      readonly uninspected: readonly UninspectedPart[];
      /** Set when a bound stopped the scan: the counts are then lower bounds. */
      readonly bound: ContentBound | null;
    };

export const MAX_LISTED_PER_LOCATION = 20;

/** policy.content.limits, as the scanner takes them. */
export interface ContentLimits {
  /** MIME parts in the whole tree, nested messages included. */
  readonly maxParts: number;
  /** Nesting of multiparts and message/rfc822 parts (the root is depth 0). */
  readonly maxDepth: number;
  /** Bytes after transfer decoding and decompression of everything read, summed over the message. */
  readonly maxDecodedBytes: number;
  /** Spreadsheet cells over all spreadsheet attachments. */
  readonly maxCells: number;
  /** Wall time of one scan, read from the clock the caller passes in. */
  readonly maxScanMs: number;
}

export interface ContentScanOptions {
  readonly internalDomains: readonly string[];
  /**
   * The smallest content threshold of the policy and its rules: a message
   * whose pre-scan shows no more than this many possible addresses is not
   * decoded at all (no rule could find a violation in it).
   */
  readonly skipAtOrBelow: number;
  readonly limits: ContentLimits;
  /** Milliseconds from any origin (performance.now); the pure scan reads time only through this. */
  readonly now: () => number;
}
