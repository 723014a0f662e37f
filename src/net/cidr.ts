import ipaddr from 'ipaddr.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * A client address allow-list. IPv4 clients of a dual-stack listener arrive as
 * ::ffff:a.b.c.d and are matched against the IPv4 entries.
 */
export function makeCidrMatcher(cidrs: readonly string[]): (address: string) => boolean {
  const ranges: Range[] = cidrs.map((entry) =>
    entry.includes('/') ? ipaddr.parseCIDR(entry) : [ipaddr.parse(entry), ipaddr.parse(entry).kind() === 'ipv4' ? 32 : 128],
  );
  return (address: string) => {
    if (!ipaddr.isValid(address)) return false;
    let ip = ipaddr.parse(address);
    if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
    return ranges.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits));
  };
}
