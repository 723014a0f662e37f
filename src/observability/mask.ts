import type { AddressMasker } from '../store/record.js';

export type { AddressMasker };

/**
 * m***@g***.com: enough for an operator to recognise a pattern, not enough to
 * harvest addresses from a log. The last domain label stays so a bulk run to
 * one provider is still visible.
 */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address ? `${address[0]}***` : '';
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  const dot = domain.lastIndexOf('.');
  const maskedDomain = dot > 0 ? `${domain[0]}***${domain.slice(dot)}` : `${domain[0] ?? ''}***`;
  return `${local[0] ?? ''}***@${maskedDomain}`;
}

export function makeAddressMasker(showAddresses: boolean): AddressMasker {
  return showAddresses ? (a) => a : maskAddress;
}

// Anything address-shaped inside free text, such as an upstream reply
// (`550 5.1.1 <bob@example.net>: no such user`), a preview's text or a held
// message's HTML; with the full-width and small at-signs a reader also takes for
// one (NFKC folds them to '@'). It never crosses <, >, quotes or whitespace, so
// masking inside serialised markup cannot change its structure.
const ADDRESS_IN_TEXT = /[^\s<>"'(),;:[\]@\uff20\ufe6b]+[@\uff20\ufe6b][^\s<>"'(),;:[\]@\uff20\ufe6b]+/g;
const MAY_HOLD_ADDRESS = /[@\uff20\ufe6b]/;

/** The text with every address in it masked (identity when log.showAddresses). */
export function maskAddressesIn(text: string, mask: AddressMasker): string {
  if (!MAY_HOLD_ADDRESS.test(text)) return text;
  return text.replace(ADDRESS_IN_TEXT, (address) => {
    const ascii = address.replace(/[\uff20\ufe6b]/g, '@');
    const masked = mask(ascii);
    return masked === ascii ? address : masked;
  });
}
