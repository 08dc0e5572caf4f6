import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { formatCidr, type Cidr } from '../config/cidr.js';
import { OutboundPolicy } from './outbound.js';

/** A connection an outbound call was not allowed to make; the fetch rejects with it as `cause`. */
export class OutboundRefusedError extends Error {
  readonly code = 'ERR_OUTBOUND_REFUSED';
}

const MAX_REDIRECTS = 20; // as the Fetch standard
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

const refused = (host: string, addresses: string[]) =>
  new OutboundRefusedError(`${host}${addresses.length && addresses[0] !== host ? ` (${addresses.join(', ')})` : ''} is a special-use address outside OUTBOUND_ALLOW`);

/** Resolves a host name to the addresses the policy allows only, so the socket can connect to no other. */
function guardedLookup(policy: OutboundPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, found: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const allowed = found.filter((a) => policy.allows(a.address));
      if (!allowed.length) return callback(refused(hostname, found.map((a) => a.address)) as NodeJS.ErrnoException, '', 0);
      if (options.all) return callback(null, allowed);
      return callback(null, allowed[0].address, allowed[0].family);
    });
  };
}

interface Hop {
  url: URL;
  method: string;
  headers: Headers;
  body?: Buffer;
  signal: AbortSignal;
}

/** One request; an IP literal is judged before any packet leaves, a host name by guardedLookup. */
function send(hop: Hop, policy: OutboundPolicy, agents: { http: http.Agent; https: https.Agent }, lookup: LookupFunction) {
  const { url } = hop;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new Error(`${url.protocol} is not an outbound protocol`));
  if (isIP(host) && !policy.allows(host)) return Promise.reject(refused(host, [host]));
  const headers: Record<string, string> = Object.fromEntries(hop.headers);
  if (hop.body) headers['content-length'] = String(hop.body.length);
  return new Promise<IncomingMessage>((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: hop.method, headers, signal: hop.signal, lookup, agent: url.protocol === 'https:' ? agents.https : agents.http,
    }, resolve);
    request.once('error', reject);
    request.end(hop.body);
  });
}

function toResponse(res: IncomingMessage, method: string) {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) for (const v of [value ?? []].flat()) headers.append(name, v);
  const status = res.statusCode ?? 502;
  if (NULL_BODY.has(status) || method === 'HEAD') {
    res.resume();
    return new Response(null, { status, statusText: res.statusMessage, headers });
  }
  return new Response(Readable.toWeb(res) as ReadableStream, { status, statusText: res.statusMessage, headers });
}

/**
 * `fetch` for every call Gatehouse makes to an address someone else chose (a client's
 * backchannel_logout_uri and jwks_uri, upstream providers): it connects only where OutboundPolicy
 * allows, redirects included. Its own connection pool, so no socket opened without the check is
 * ever reused. It replaces oidc-provider's guard (which knows no allow list, and finds no undici
 * to hook into under jest); the caller's signal, headers and redirect mode are kept.
 */
export function outboundFetch(allow: readonly Cidr[]): typeof fetch {
  const key = allow.map(formatCidr).join(',');
  let made = fetches.get(key);
  if (!made) fetches.set(key, (made = guardedFetch(allow)));
  return made;
}

/** One connection pool per allow list for the life of the process, however often providers are rebuilt. */
const fetches = new Map<string, typeof fetch>();

function guardedFetch(allow: readonly Cidr[]): typeof fetch {
  const policy = new OutboundPolicy(allow);
  const lookup = guardedLookup(policy);
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  return async (input, init) => {
    const request = new Request(input, init);
    let hop: Hop = {
      url: new URL(request.url), method: request.method, headers: new Headers(request.headers), signal: request.signal,
      body: request.body ? Buffer.from(await request.arrayBuffer()) : undefined,
    };
    try {
      for (let redirects = 0; ; redirects++) {
        const res = await send(hop, policy, agents, lookup);
        const location = res.headers.location;
        if (!REDIRECTS.has(res.statusCode ?? 0) || !location || request.redirect === 'manual') return toResponse(res, hop.method);
        res.resume();
        if (request.redirect === 'error') throw new Error(`redirected to ${location}`);
        if (redirects === MAX_REDIRECTS) throw new Error('too many redirects');
        const url = new URL(location, hop.url);
        const headers = new Headers(hop.headers);
        // Fetch standard, HTTP-redirect fetch: credentials stay with their origin; 303, and 301/302 after a POST, become a GET.
        if (url.origin !== hop.url.origin) headers.delete('authorization');
        const get = res.statusCode === 303 ? hop.method !== 'HEAD' : (res.statusCode === 301 || res.statusCode === 302) && hop.method === 'POST';
        if (get) for (const name of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']) headers.delete(name);
        hop = { ...hop, url, headers, method: get ? 'GET' : hop.method, body: get ? undefined : hop.body };
      }
    } catch (err) {
      // As fetch: an abort rejects with the signal's reason, anything else is a TypeError with a cause.
      if (request.signal.aborted) throw request.signal.reason;
      throw new TypeError('fetch failed', { cause: err });
    }
  };
}
