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

export type AddressMasker = (address: string) => string;

export function makeAddressMasker(showAddresses: boolean): AddressMasker {
  return showAddresses ? (a) => a : maskAddress;
}
