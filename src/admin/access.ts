import type { Context, Middleware, Next } from 'koa';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWK } from 'jose';
import type { Actor, Deps } from '../deps.js';
import { findClient } from '../domain/clients/clients.queries.js';
import { listPublicKeys } from '../domain/keys/keys.service.js';
import { findClientRoleNames, findUserRoleNames } from '../domain/rbac/rbac.queries.js';
import { findTenantBySlug } from '../domain/tenants/tenants.queries.js';
import { SYSTEM_ADMIN_ROLE, SYSTEM_TENANT, TENANT_ADMIN_ROLE, type Tenant } from '../domain/tenants/tenants.types.js';
import { findUserById } from '../domain/users/users.queries.js';
import { adminResource, hasAdminAccess } from '../provider/config/resources.js';
import { checkTokenBinding, DPOP_ALGS } from './dpop.js';
import { Problem } from './problem.js';
import { limitAdminPrincipal } from './rate-limit.js';

/** Who is calling, and from which tenant their token comes. */
export interface AdminPrincipal {
  tenant: Tenant;
  kind: 'client' | 'user';
  id: string;
  roles: string[];
  /** system-admin of the system tenant: may act on every tenant. */
  system: boolean;
}

const invalidToken = (detail: string) =>
  new Problem(401, 'invalid_token', detail, undefined, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });

/** RFC 6750 bearer or RFC 9449 DPoP-bound token → principal; every failure is the same 401 to the caller. */
async function authenticate(deps: Deps, ctx: Context): Promise<AdminPrincipal> {
  const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]+=*)$/i.exec(ctx.get('authorization'));
  if (!match) throw new Problem(401, 'unauthorized', 'A bearer access token is required.', undefined, { 'WWW-Authenticate': `Bearer, DPoP algs="${DPOP_ALGS.join(' ')}"` });
  const scheme = match[1].toLowerCase() as 'bearer' | 'dpop';
  const token = match[2];
  let iss: unknown;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    throw invalidToken('The access token is malformed.');
  }
  const prefix = `${deps.config.publicUrl}/t/`;
  if (typeof iss !== 'string' || !iss.startsWith(prefix)) throw invalidToken('The access token has an unknown issuer.');
  const tenant = await findTenantBySlug(deps.db, iss.slice(prefix.length));
  if (!tenant) throw invalidToken('The access token has an unknown issuer.');
  const keys = await listPublicKeys(deps, tenant.id);
  let payload;
  try {
    ({ payload } = await jwtVerify(token, createLocalJWKSet({ keys: keys.map((k) => k.publicJwk as JWK) }), {
      issuer: iss,
      audience: adminResource(deps.config.publicUrl),
      typ: 'at+jwt', // RFC 9068 §4: refuse id_tokens and other JWTs
      algorithms: ['RS256', 'ES256', 'EdDSA'],
    }));
  } catch {
    throw invalidToken('The access token is invalid or expired.');
  }
  await checkTokenBinding(deps, ctx, tenant.id, scheme, token, payload);
  const sub = String(payload.sub ?? '');
  const clientId = typeof payload.client_id === 'string' ? payload.client_id : '';
  // Whoever the principal is, the token must come from a client that still exists and still has
  // admin_access: removing it (or the client) ends that client's admin tokens at once.
  const client = clientId ? await findClient(deps.db, tenant.id, clientId) : undefined;
  if (!client) throw invalidToken('The client of this token no longer exists.');
  if (!hasAdminAccess(client.metadata)) throw invalidToken('The client of this token may not use the admin API.');
  if (sub === clientId) {
    const roles = await findClientRoleNames(deps.db, tenant.id, sub);
    return { tenant, kind: 'client', id: sub, roles, system: tenant.slug === SYSTEM_TENANT && roles.includes(SYSTEM_ADMIN_ROLE) };
  }
  const user = /^[0-9a-f-]{36}$/i.test(sub) ? await findUserById(deps.db, tenant.id, sub) : undefined;
  if (!user || user.disabled) throw invalidToken('The user of this token is unknown or disabled.');
  const roles = await findUserRoleNames(deps.db, tenant.id, sub);
  return { tenant, kind: 'user', id: sub, roles, system: tenant.slug === SYSTEM_TENANT && roles.includes(SYSTEM_ADMIN_ROLE) };
}

/**
 * DESIGN.md "Admin API": system-admin may act on every tenant, tenant-admin only on its own.
 * With `systemOnly` (creating, listing, deleting tenants) only system-admin passes. On routes
 * with `:slug` the target tenant is loaded into ctx.state.tenant (404 only for those allowed to know).
 */
export function requireAdmin(deps: Deps, options: { systemOnly?: boolean } = {}): Middleware {
  return async (ctx: Context, next: Next) => {
    const principal = await authenticate(deps, ctx);
    await limitAdminPrincipal(deps, principal);
    const slug = (ctx as Context & { params?: Record<string, string> }).params?.slug;
    // The system tenant holds the system-admin principals: a tenant-admin there could rotate their
    // secrets or passwords and become system-admin, so only system-admin administers it.
    const allowed = principal.system
      || (!options.systemOnly && slug !== undefined && slug !== SYSTEM_TENANT && slug === principal.tenant.slug && principal.roles.includes(TENANT_ADMIN_ROLE));
    if (!allowed) throw new Problem(403, 'forbidden', 'This principal may not administer this tenant.');
    const actor: Actor = { id: `${principal.kind}:${principal.id}`, ip: ctx.ip, userAgent: ctx.get('user-agent') || null };
    ctx.state.principal = principal;
    ctx.state.actor = actor;
    if (slug !== undefined) {
      const tenant = slug === principal.tenant.slug ? principal.tenant : await findTenantBySlug(deps.db, slug);
      if (!tenant) throw new Problem(404, 'tenant_not_found', 'There is no tenant with this slug.');
      ctx.state.tenant = tenant;
    }
    await next();
  };
}

/** Granting system-admin is itself a system-admin act (a system tenant-admin must not self-promote). */
export function assertMayGrant(principal: AdminPrincipal, tenant: Tenant, roles: string[] | undefined) {
  if (tenant.slug === SYSTEM_TENANT && roles?.includes(SYSTEM_ADMIN_ROLE) && !principal.system) {
    throw new Problem(403, 'forbidden', 'Only a system-admin may grant system-admin.');
  }
}
