import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { Middleware } from 'koa';

/**
 * The client's address, decided once per request (DESIGN.md "Configuration", TRUST_PROXY): the
 * peer, unless the peer is a trusted reverse proxy. Audit events, session lists, the admin actor
 * and rate limits all read it as ctx.ip, in Gatehouse's own routes and in oidc-provider alike.
 */
export function clientAddresses(trustProxy: string[]): Middleware {
  const trusted = trustedProxies(trustProxy);
  // Not async (security/headers.ts says why).
  return (ctx, next) => {
    // Koa's app.proxy stays off, so ctx.ip is what is set here.
    ctx.request.ip = settleClientAddress(ctx.req, trusted);
    return next();
  };
}

/**
 * The request's client address, written into its headers for what reads them: every provider has
 * proxy on (for the forwarded host and scheme tenancy/mount.ts sets from PUBLIC_URL) and takes the
 * first X-Forwarded-For entry as its ctx.ip, so it gets this one address, not the client's header.
 */
export function settleClientAddress(req: IncomingMessage, trusted: (address: string) => boolean) {
  const headers = req.headers;
  const peer = normalizeAddress(req.socket.remoteAddress ?? '');
  const viaProxy = trusted(peer);
  const forwardedFor = headers['x-forwarded-for'];
  const address = viaProxy ? clientAddress(peer, Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor, trusted) : peer;
  // From any other peer these are whatever the client wrote: nothing downstream may read them.
  if (!viaProxy) delete headers['x-forwarded-proto'];
  headers['x-forwarded-for'] = address;
  return address;
}

/** Whether an address lies in one of the CIDRs (config/env.ts has checked them). */
export function trustedProxies(cidrs: string[]): (address: string) => boolean {
  if (cidrs.length === 0) return () => false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [network, prefix] = cidr.split('/');
    list.addSubnet(network, Number(prefix), isIP(network) === 4 ? 'ipv4' : 'ipv6');
  }
  return (address) => {
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
}

/**
 * Behind trusted proxies: each proxy appends the address it received the request from, so walking
 * X-Forwarded-For from the right, the first address that is not itself a trusted proxy is the
 * client. Entries left of it were written by the client and prove nothing.
 */
export function clientAddress(peer: string, forwardedFor: string | undefined, trusted: (address: string) => boolean) {
  let client = normalizeAddress(peer);
  const hops = forwardedFor ? forwardedFor.split(',') : [];
  for (let i = hops.length - 1; i >= 0 && trusted(client); i--) {
    const hop = forwardedAddress(hops[i].trim());
    if (!hop) break; // malformed: the chain is believed up to the last proxy, no further
    client = hop;
  }
  return client;
}

/** A dual-stack socket shows the IPv4 client 127.0.0.22 as ::ffff:127.0.0.22: show it as clients know it. */
export function normalizeAddress(address: string) {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1] : address;
}

/** An X-Forwarded-For entry: an address, which some proxies write with a port ("192.0.2.1:443", "[2001:db8::1]:443"). */
function forwardedAddress(entry: string) {
  const address = /^\[([^\]]+)\](?::\d+)?$/.exec(entry)?.[1] ?? /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry)?.[1] ?? entry;
  return isIP(address) ? normalizeAddress(address.toLowerCase()) : undefined;
}
