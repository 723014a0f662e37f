import { simpleParser } from 'mailparser';
import type { Analyse } from '../../actions/outgoing-copies.js';
import { prepareCopies } from '../../actions/outgoing-copies.js';
import { assembleMessage } from '../../message/message-bytes.js';
import { maskAddress, maskAddressesIn } from '../../observability/mask.js';
import type { AddressMasker, MessageRecord } from '../../store/record.js';
import { buildPreview, type MessagePreview } from '../preview.js';
import { sanitiseHtml, type SanitisedHtml } from './sanitise-html.js';

// What the message page shows of the stored bytes: the text preview and
// attachments (preview.ts, as the API gives them), the visible addresses by
// header as the proxy's analyser reads them, the HTML part sanitised, and the
// header block of the bcc and split copies exactly as prepareCopies builds them.

export interface AddressRow {
  readonly header: string;
  readonly addresses: readonly { readonly shown: string; readonly internal: boolean }[];
}

export type CopyHead = { readonly ok: true; readonly head: string; readonly copies: number } | { readonly ok: false; readonly reason: string };

const MAX_HTML_CHARS = 2_000_000;

/** Addresses in the text masked as the record masks them (`mask`), unless revealed. */
export async function textPreview(raw: Buffer, mask?: AddressMasker): Promise<MessagePreview | null> {
  return buildPreview(raw, mask).catch(() => null);
}

/** The analyser's visible addresses grouped by header; masked unless `reveal`. */
export function addressesByHeader(analyse: Analyse, maxHeaderBytes: number, record: MessageRecord, raw: Buffer, reveal: boolean): AddressRow[] {
  const analysis = analyse(assembleMessage([raw], maxHeaderBytes), record.envelope);
  const rows = new Map<string, { shown: string; internal: boolean }[]>();
  for (const v of analysis.exposure.visible) {
    for (const header of v.headers) {
      const list = rows.get(header) ?? [];
      list.push({ shown: reveal ? v.address : maskAddress(v.address), internal: v.internal });
      rows.set(header, list);
    }
  }
  return [...rows].map(([header, addresses]) => ({ header, addresses }));
}

/** The header block of the copy a release as bcc or split would send (split: the first recipient's), or why none can be sent. */
export function copyHead(analyse: Analyse, maxHeaderBytes: number, record: MessageRecord, raw: Buffer, form: 'bcc' | 'split'): CopyHead {
  const message = assembleMessage([raw], maxHeaderBytes);
  const prepared = prepareCopies(analyse, message, analyse(message, record.envelope), record.envelope, form);
  if (!prepared.ok) return { ok: false, reason: prepared.reason };
  const first = prepared.copies[0];
  if (!first) return { ok: false, reason: 'no recipient' };
  // MessageBytes.head may run on into the body: the header block ends at the first empty line.
  const text = first.message.head.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  return { ok: true, head: end < 0 ? text : text.slice(0, end + 2), copies: prepared.copies.length };
}

/**
 * The HTML part, sanitised, with every address in it masked as the record masks
 * them (`mask`; as is with log.showAddresses): a member list pasted into an HTML
 * body, or a forward's header table, must not be shown whole to every reviewer.
 * The frame has no reveal of its own; the revealed text preview shows them.
 */
export async function htmlPart(raw: Buffer, mask: AddressMasker = maskAddress): Promise<SanitisedHtml | null> {
  const mail = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, checksumAlgo: false, maxHtmlLengthToParse: MAX_HTML_CHARS });
  if (typeof mail.html !== 'string' || mail.html === '') return null;
  if (mail.html.length > MAX_HTML_CHARS) return { html: '', remoteImages: 0, failedClosed: true };
  const sanitised = sanitiseHtml(mail.html);
  return sanitised.failedClosed ? sanitised : { ...sanitised, html: maskAddressesIn(sanitised.html, mask) };
}
