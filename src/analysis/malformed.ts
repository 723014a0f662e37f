// Analysis reports findings, never SMTP replies (issue 8): inside the stage a
// header that cannot be read safely is this typed error, and analyse() turns
// it into a `malformed` finding that decide() alone maps to a refusal.

export class MalformedHeaderError extends Error {
  override readonly name = 'MalformedHeaderError';
  constructor(
    /** What is wrong, in words a sender can act on; no addresses. */
    readonly why: string,
  ) {
    super(why);
  }
}

/** The header block is larger than smtp.maxHeaderBytes. */
export class HeaderTooBigError extends Error {
  override readonly name = 'HeaderTooBigError';
  constructor(readonly maxBytes: number) {
    super(`header block exceeds ${maxBytes} bytes`);
  }
}
