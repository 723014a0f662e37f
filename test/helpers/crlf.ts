// Message text as SMTP and RFC 5322 write it: lines joined with CRLF. No CRLF is
// added after the last line; end with '' for a trailing one.

/** The lines joined with CRLF. */
export const crlf = (...lines: string[]): string => lines.join('\r\n');

/** The lines joined with CRLF, as UTF-8 bytes. */
export const crlfBytes = (...lines: string[]): Buffer => Buffer.from(crlf(...lines), 'utf8');
