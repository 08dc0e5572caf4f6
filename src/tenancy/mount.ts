import type { Middleware } from 'koa';
import type { Config } from '../config/load.js';
import type { TenantRegistry } from './registry.js';

/** Paths under an issuer that Gatehouse serves itself; everything else is oidc-provider's. */
const OWN_PATHS = /^\/(interaction|account|saml|oidc|password|email)(\/|$)/;

/**
 * `/t/:slug/...`: resolves the tenant (404 JSON when unknown) and hands protocol paths to the
 * tenant's provider with the prefix stripped, so its URLs are `${PUBLIC_URL}/t/${slug}/...`.
 */
export function mountTenants(registry: TenantRegistry, config: Config): Middleware {
  return async (ctx, next) => {
    const match = /^\/t\/([^/]+)(\/.*)?$/.exec(ctx.path);
    if (!match) return next();
    const entry = await registry.resolve(match[1]);
    if (!entry) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'unknown tenant' };
      return;
    }
    ctx.state.tenant = entry.tenant;
    ctx.state.provider = entry.provider;
    // Scheme and host of every URL the provider builds come from PUBLIC_URL, not the request.
    const pub = new URL(config.publicUrl);
    ctx.req.headers['x-forwarded-host'] = pub.host;
    ctx.req.headers['x-forwarded-proto'] = pub.protocol.slice(0, -1);
    const rest = match[2] ?? '/';
    if (OWN_PATHS.test(rest)) return next();
    // oidc-provider finds its mount path in req.baseUrl (the Express convention).
    const prefix = `/t/${match[1]}`;
    const inner = ctx.req.url!.slice(prefix.length);
    (ctx.req as { baseUrl?: string }).baseUrl = prefix;
    ctx.req.url = inner.startsWith('/') ? inner : `/${inner}`;
    ctx.respond = false;
    await entry.handle(ctx.req, ctx.res);
  };
}
