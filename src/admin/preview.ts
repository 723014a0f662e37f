import { simpleParser, type AddressObject, type EmailAddress } from 'mailparser';
import { maskAddress, maskAddressesIn, type AddressMasker } from '../observability/mask.js';

/**
 * What a reviewer needs to judge a held message, and nothing a browser could
 * execute: plain text only (an HTML-only message is converted to text by
 * mailparser's html-to-text, which drops scripts, styles and markup), never the
 * HTML itself, never inlined images. Subject, names and file names are plain
 * JSON strings; the UI must insert them as text.
 *
 * Every address in the text and in attachment filenames is masked as the
 * record masks them (shown only with log.showAddresses): mailparser inlines an
 * inline message/rfc822 part's From, To and Subject into `text`, so a forwarded
 * newsletter's member list, or one pasted into the body, would otherwise be
 * printed whole.
 */
export interface MessagePreview {
  readonly from: readonly string[];
  readonly to: readonly string[];
  readonly cc: readonly string[];
  readonly subject: string | null;
  /** ISO 8601, or null when the message has no Date the parser understood. */
  readonly date: string | null;
  readonly text: string;
  /** True when text or an address list was cut to its limit. */
  readonly truncated: boolean;
  /** The message had HTML that could not be turned into text (too large or too deep). */
  readonly htmlNotShown: boolean;
  readonly attachments: readonly { readonly filename: string | null; readonly contentType: string; readonly size: number }[];
}

const MAX_TEXT_CHARS = 100_000;
const MAX_ADDRESSES_PER_HEADER = 1000;
/** Bigger HTML is not converted: html-to-text on a hostile multi-megabyte document is a CPU sink. */
const MAX_HTML_CHARS = 2_000_000;
const MAX_ATTACHMENTS_LISTED = 200;

const PARSER_OPTIONS = {
  skipImageLinks: true,
  keepCidLinks: true,
  skipTextToHtml: true,
  checksumAlgo: false,
  maxHtmlLengthToParse: MAX_HTML_CHARS,
} as const;

export async function buildPreview(raw: Buffer, mask: AddressMasker = maskAddress): Promise<MessagePreview> {
  const mail = await simpleParser(raw, PARSER_OPTIONS);
  let text = mail.text ?? '';
  let conversionError = mail.textConversionError;
  if (text.trim() === '' && typeof mail.html === 'string' && mail.html !== '') {
    // mailparser converts HTML to text only for a root text/html part or next to
    // other text; an HTML part alone inside multipart/mixed (common in bulk mail)
    // comes back as HTML only. Parse it once more as a root part so it goes through
    // the same bounded converter (length and nesting limits) instead of a second one.
    const alone = await simpleParser(
      Buffer.from(`Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${mail.html}`, 'utf8'),
      PARSER_OPTIONS,
    );
    text = alone.text ?? '';
    conversionError ??= alone.textConversionError;
  }
  let truncated = false;
  const addresses = (value: AddressObject | AddressObject[] | undefined): string[] => {
    const out: string[] = [];
    const add = (entries: readonly EmailAddress[]): void => {
      for (const e of entries) {
        if (e.group) add(e.group);
        else if (out.length < MAX_ADDRESSES_PER_HEADER) out.push(e.name && e.address ? `${e.name} <${e.address}>` : (e.address ?? e.name));
        else truncated = true;
      }
    };
    for (const header of value === undefined ? [] : Array.isArray(value) ? value : [value]) add(header.value);
    return out;
  };

  if (text.length > MAX_TEXT_CHARS) {
    text = text.slice(0, MAX_TEXT_CHARS);
    truncated = true;
  }
  const date = mail.date && !Number.isNaN(mail.date.getTime()) ? mail.date.toISOString() : null;
  return {
    from: addresses(mail.from),
    to: addresses(mail.to),
    cc: addresses(mail.cc),
    subject: mail.subject ?? null,
    date,
    text: maskAddressesIn(text, mask),
    truncated: truncated || mail.attachments.length > MAX_ATTACHMENTS_LISTED,
    htmlNotShown: conversionError !== undefined,
    attachments: mail.attachments.slice(0, MAX_ATTACHMENTS_LISTED).map((a) => ({
      filename: a.filename === undefined ? null : maskAddressesIn(a.filename, mask),
      contentType: a.contentType,
      size: a.size,
    })),
  };
}
