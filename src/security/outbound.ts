import { isIP } from 'node:net';
import { formatCidr, parseCidr, type Cidr } from '../config/cidr.js';

/** An IP address as a number, IPv4-mapped IPv6 addresses (RFC 4291 §2.5.5.2) as the IPv4 they carry. */
interface Ip {
  family: 4 | 6;
  value: bigint;
}

interface Block {
  family: 4 | 6;
  value: bigint;
  mask: bigint;
}

/**
 * Addresses no relying party or upstream provider has on the public internet: the IANA IPv4 and
 * IPv6 Special-Purpose Address Registries (RFC 6890 and successors, as oidc-provider's own guard
 * lists them), plus multicast and 240/4. Outbound calls never reach them unless OUTBOUND_ALLOW says.
 */
const SPECIAL_USE = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12',
  '192.0.0.0/24', '192.0.2.0/24', '192.31.196.0/24', '192.52.193.0/24', '192.88.99.0/24', '192.168.0.0/16',
  '192.175.48.0/24', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4',
  '::/128', '::1/128', '64:ff9b::/96', '64:ff9b:1::/48', '100::/64', '100:0:0:1::/64', '2001::/23', '2001:db8::/32',
  '2002::/16', '2620:4f:8000::/48', '3fff::/20', '5f00::/16', 'fc00::/7', 'fe80::/10', 'fec0::/10', 'ff00::/8',
].map((text) => toBlock(parseCidr(text)!));

function ipv4Value(address: string) {
  return address.split('.').reduce((n, octet) => (n << 8n) | BigInt(Number(octet)), 0n);
}

/** Parses an IP literal (an IPv6 zone is ignored); undefined for anything else, a host name included. */
export function parseIp(text: string): Ip | undefined {
  const address = text.replace(/^\[(.*)\]$/, '$1').split('%')[0];
  const family = isIP(address);
  if (family === 4) return { family, value: ipv4Value(address) };
  if (family !== 6) return undefined;
  // A dotted IPv4 tail (::ffff:10.0.0.1) is the last two groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  const hex = tail ? `${address.slice(0, tail.index)}${(ipv4Value(tail[1]) >> 16n).toString(16)}:${(ipv4Value(tail[1]) & 0xffffn).toString(16)}` : address;
  const [head, rest] = hex.split('::');
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const groups = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const value = groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
  if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn };
  return { family: 6, value };
}

function toBlock(cidr: Cidr): Block {
  const ip = parseIp(cidr.address);
  if (!ip) throw new TypeError(`not an address block: ${formatCidr(cidr)}`);
  const bits = ip.family === 4 ? 32 : 128;
  // ::ffff:10.0.0.0/104 names the IPv4 block 10.0.0.0/8.
  const prefix = ip.family === 4 && isIP(cidr.address) === 6 ? Math.max(0, cidr.prefix - 96) : cidr.prefix;
  const mask = ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
  return { family: ip.family, value: ip.value & mask, mask };
}

const contains = (block: Block, ip: Ip) => block.family === ip.family && (ip.value & block.mask) === block.value;

/** Whether an IP literal is a special-use address; anything that is not an IP literal counts as one. */
export function isSpecialUse(address: string) {
  const ip = parseIp(address);
  return !ip || SPECIAL_USE.some((b) => contains(b, ip));
}

/**
 * Where Gatehouse's own outbound calls may connect (SSRF protection): any public address, and of
 * the special-use ones only those inside an allowed block (OUTBOUND_ALLOW). Decided on the address
 * actually connected to, never on a host name.
 */
export class OutboundPolicy {
  readonly #allow: Block[];

  constructor(readonly allow: readonly Cidr[] = []) {
    this.#allow = allow.map(toBlock);
  }

  allows(address: string) {
    const ip = parseIp(address);
    if (!ip) return false;
    return !SPECIAL_USE.some((b) => contains(b, ip)) || this.#allow.some((b) => contains(b, ip));
  }
}
