import { createHmac, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { Deps } from '../deps.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';
import { constantTimeEqual } from '../security/secrets.js';

/** A random value per browser and tenant; forms carry an HMAC of it, never the value itself. */
const COOKIE = 'gatehouse.selfservice';
const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

/**
 * CSRF for pages that have no interaction to bind to (password reset, email verification): a
 * double-submit cookie whose form token is an HMAC of the cookie under the tenant's cookie key
 * (the style of interactions/csrf.ts), so a cookie planted from a sibling host is useless without
 * the key, and SameSite=Lax keeps the cookie off cross-site form posts in the first place.
 */
export function formToken(deps: Pick<Deps, 'secrets' | 'config'>, ctx: Context, tenant: Tenant): string {
  let value = ctx.cookies.get(COOKIE);
  if (!value || !COOKIE_VALUE.test(value)) {
    value = randomBytes(32).toString('base64url');
    const secure = deps.config.publicUrl.startsWith('https:') ? '; Secure' : '';
    // Written by hand: Koa refuses a Secure cookie on a request that reached it over plain HTTP
    // (TLS ended at a proxy); the URL users see is PUBLIC_URL's.
    ctx.append('Set-Cookie', `${COOKIE}=${value}; Path=/t/${tenant.slug}/; HttpOnly; SameSite=Lax${secure}`);
  }
  return tokenOf(deps, tenant, value);
}

export function checkFormToken(deps: Pick<Deps, 'secrets'>, ctx: Context, tenant: Tenant, presented: string): boolean {
  const value = ctx.cookies.get(COOKIE);
  return Boolean(value && COOKIE_VALUE.test(value) && presented && constantTimeEqual(tokenOf(deps, tenant, value), presented));
}

const tokenOf = (deps: Pick<Deps, 'secrets'>, tenant: Tenant, value: string) =>
  createHmac('sha256', deps.secrets.cookieKey(tenant.id)).update(`self-service-csrf:${value}`).digest('base64url');
