// What analysis found, as facts. decide() is the one place that turns a
// finding into a verdict and a reply, so the proxy and `mail-guard check`
// cannot disagree about a message.

export type Finding =
  /** The header block could be read differently by different readers, or not at all. */
  | { readonly kind: 'malformed'; readonly why: string }
  /** A NUL byte anywhere in the message: `\r\n\0.\r\n` ends DATA early at receivers that drop NULs. */
  | { readonly kind: 'nul-byte' }
  | { readonly kind: 'header-too-big'; readonly maxBytes: number }
  /** More address-like items in the counted headers than policy.maxAddresses: the counts are lower bounds. */
  | { readonly kind: 'address-budget'; readonly max: number };

export type FindingKind = Finding['kind'];
