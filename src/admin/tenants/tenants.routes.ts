import type Router from '@koa/router';
import { presentTenant, TenantAnswer } from '../../domain/present.js';
import type { Deps } from '../../deps.js';
import { findTenantsPage } from '../../domain/tenants/tenants.queries.js';
import type { TenantSettings } from '../../domain/tenants/tenants.types.js';
import { changeTenantSettings, createTenant, removeTenant } from '../../domain/tenants/tenants.service.js';
import { z } from 'zod';
import { requireAdmin } from '../access.js';
import { operations } from '../operations.js';
import { decodeCursor, ListQuery, page } from '../pagination.js';
import { CreateTenant, PatchTenant } from './tenants.schema.js';

const tenantExample = {
  id: '0b7f2c1e-8a4d-4c47-9d51-3f2e6a9b1c20', slug: 'acme', name: 'Acme', issuer: 'https://id.example.com/t/acme', created_at: '2026-01-15T09:30:00.000Z',
  access_token_ttl: 3600, id_token_ttl: 3600, refresh_token_ttl: 2592000, session_ttl: 1209600,
  lockout: { max_failed_attempts: 5, window_seconds: 900, duration_seconds: 900 }, password_policy: { min_length: 8, block_common: true },
  mfa_required: false, max_sessions_per_user: 0, registration: { enabled: false }, require_verified_email: false, key_rotation_days: 90,
  rate_limits: {
    login_per_ip: { limit: 20, window_seconds: 60 }, login_per_account: { limit: 10, window_seconds: 60 },
    client_auth_failures: { limit: 20, window_seconds: 60 }, mail_per_address: { limit: 3, window_seconds: 900 },
  },
};

/** The OpenAPI operations of the routes below (admin/operations.ts). */
export const tenantOperations = operations('Tenants', [
  {
    method: 'post', path: '/tenants', operationId: 'createTenant', summary: 'Create a tenant (system-admin)', description: 'Makes the tenant with its signing key and its built-in tenant-admin role.',
    body: CreateTenant, status: 201, response: TenantAnswer, errors: [409], requestExample: { slug: 'acme', name: 'Acme' }, responseExample: tenantExample,
  },
  { method: 'get', path: '/tenants', operationId: 'listTenants', summary: 'List tenants by slug (system-admin)', list: true, response: TenantAnswer },
  { method: 'get', path: '/tenants/{slug}', operationId: 'getTenant', summary: 'Read a tenant and its settings', response: TenantAnswer, responseExample: tenantExample },
  {
    method: 'patch', path: '/tenants/{slug}', operationId: 'updateTenant', summary: 'Change any subset of a tenant\'s settings', description: 'Nested objects are merged with what is stored.',
    body: PatchTenant, response: TenantAnswer, requestExample: { session_ttl: 86400, password_policy: { min_length: 12 } },
  },
  { method: 'delete', path: '/tenants/{slug}', operationId: 'deleteTenant', summary: 'Delete a tenant (system-admin; never the system tenant)', status: 204, errors: [409] },
]);

export function tenantRoutes(router: Router, deps: Deps) {
  const present = (t: Parameters<typeof presentTenant>[0]) => presentTenant(t, deps.config.publicUrl);

  router.post('/tenants', requireAdmin(deps, { systemOnly: true }), async (ctx) => {
    const body = CreateTenant.parse(ctx.request.body);
    const tenant = await createTenant(deps, body, ctx.state.actor);
    ctx.status = 201;
    ctx.body = present(tenant);
  });

  router.get('/tenants', requireAdmin(deps, { systemOnly: true }), async (ctx) => {
    const { limit, cursor } = ListQuery.parse(ctx.query);
    const rows = await findTenantsPage(deps.db, { afterSlug: decodeCursor(cursor, z.string()), limit: limit + 1 });
    ctx.body = page(rows, limit, (t) => t.slug, present);
  });

  router.get('/tenants/:slug', requireAdmin(deps), async (ctx) => {
    ctx.body = present(ctx.state.tenant);
  });

  router.patch('/tenants/:slug', requireAdmin(deps), async (ctx) => {
    const { name, ...settings } = PatchTenant.parse(ctx.request.body);
    const tenant = await changeTenantSettings(deps, ctx.state.tenant, { name, settings: Object.keys(settings).length ? (settings as Partial<TenantSettings>) : undefined }, ctx.state.actor);
    ctx.body = present(tenant);
  });

  router.delete('/tenants/:slug', requireAdmin(deps, { systemOnly: true }), async (ctx) => {
    await removeTenant(deps, ctx.state.tenant, ctx.state.actor);
    ctx.status = 204;
  });
}
