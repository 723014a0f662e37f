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
// (`550 5.1.1 <bob@example.net>: no such user`).
const ADDRESS_IN_TEXT = /[^\s<>"'(),;:[\]]+@[^\s<>"'(),;:[\]]+/g;

/** The text with every address in it masked (identity when log.showAddresses). */
export function maskAddressesIn(text: string, mask: AddressMasker): string {
  return text.includes('@') ? text.replace(ADDRESS_IN_TEXT, (address) => mask(address)) : text;
}
