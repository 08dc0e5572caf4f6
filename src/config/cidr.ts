import { isIP } from 'node:net';

/** An address block: `10.0.0.0/8`, `fd00::/8`. */
export interface Cidr {
  address: string;
  prefix: number;
}

/** `address/prefix` (IPv4 or IPv6), or one address alone (a /32 or /128); undefined if it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const [address, prefixText, ...rest] = text.trim().split('/');
  const family = isIP(address);
  if (!family || address.includes('%') || rest.length) return undefined;
  const bits = family === 4 ? 32 : 128;
  if (prefixText === undefined) return { address, prefix: bits };
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) return undefined;
  return { address, prefix: Number(prefixText) };
}

export const formatCidr = (c: Cidr) => `${c.address}/${c.prefix}`;
