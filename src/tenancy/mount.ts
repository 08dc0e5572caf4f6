import type { IncomingMessage } from 'node:http';
import type { Middleware } from 'koa';
import type { Config } from '../config/load.js';
import { observer } from '../log/observe.js';
import type { TenantRegistry } from './registry.js';

/** Paths under an issuer that Gatehouse serves itself. */
const OWN_PATHS = /^\/(interaction|account|saml|oidc|password|email)(\/|$)/;

/**
 * oidc-provider's routes (its default paths: /auth, /token, /token/introspection, /jwks, /me,
 * /session/end, /device, /request, /reg, /backchannel) and discovery. Anything else under an
 * issuer is no page and no endpoint: it falls through to the 404 of its surface (ops/front-door.ts).
 */
const PROTOCOL_PATHS = /^\/(\.well-known|auth|token|jwks|me|session|device|request|reg|backchannel)(\/|$)/;

/** `/t/:slug` names no tenant: answered as a 404 by whoever knows the surface (ops/front-door.ts). */
export class UnknownTenantError extends Error {
  constructor(readonly slug: string) {
    super(`There is no tenant "${slug}" on this server.`);
  }
}

/** True for a path under an issuer that is one of Gatehouse's own pages (sign-in, account, self-service, federation). */
export const isOwnPath = (rest: string) => OWN_PATHS.test(rest);

/** True for a path under an issuer that oidc-provider answers (the OAuth/OIDC surface). */
export const isProtocolPath = (rest: string) => PROTOCOL_PATHS.test(rest);

/**
 * `/t/:slug/...`: resolves the tenant (UnknownTenantError when unknown) and hands protocol paths to the
 * tenant's provider with the prefix stripped, so its URLs are `${PUBLIC_URL}/t/${slug}/...`.
 */
export function mountTenants(registry: TenantRegistry, config: Config): Middleware {
  const enter = providerEntrance(config);
  return async (ctx, next) => {
    const match = /^\/t\/([^/]+)(\/.*)?$/.exec(ctx.path);
    if (!match) return next();
    // A lookup that fails (PostgreSQL away: a 503) counts under the mount's own template, so the
    // metrics tell it from the 404s of paths nothing serves (`unmatched`).
    const entry = await registry.resolve(match[1]).catch((err: unknown) => {
      observer()?.route('/t/:tenant');
      throw err;
    });
    if (!entry) throw new UnknownTenantError(decodeSlug(match[1]));
    ctx.state.tenant = entry.tenant;
    ctx.state.provider = entry.provider;
    ctx.state.tenantCache = entry.cache;
    enter.forwarded(ctx.req);
    const rest = match[2] ?? '/';
    if (OWN_PATHS.test(rest) || !isProtocolPath(rest)) return next();
    enter.mount(ctx.req, match[1]);
    ctx.respond = false;
    await entry.handle(ctx.req, ctx.res);
  };
}

/** How a request is handed to a tenant's provider (here, and in tenancy/direct.ts). */
export function providerEntrance(config: Config) {
  // Scheme and host of every URL the provider builds come from PUBLIC_URL, not the request (parsed
  // again only when it changes: a server on port 0 learns its URL after listening).
  let pub = { url: '', host: '', proto: '' };
  return {
    /** The forwarded host and scheme the provider builds its URLs with (for Gatehouse's pages too). */
    forwarded(req: IncomingMessage) {
      if (pub.url !== config.publicUrl) {
        const url = new URL(config.publicUrl);
        pub = { url: config.publicUrl, host: url.host, proto: url.protocol.slice(0, -1) };
      }
      req.headers['x-forwarded-host'] = pub.host;
      req.headers['x-forwarded-proto'] = pub.proto;
    },
    /** `/t/:slug` stripped from the URL: oidc-provider finds its mount path in req.baseUrl (the Express convention). */
    mount(req: IncomingMessage, slug: string) {
      const prefix = `/t/${slug}`;
      const inner = req.url!.slice(prefix.length);
      (req as { baseUrl?: string }).baseUrl = prefix;
      req.url = inner.startsWith('/') ? inner : `/${inner}`;
    },
  };
}

function decodeSlug(raw: string) {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
