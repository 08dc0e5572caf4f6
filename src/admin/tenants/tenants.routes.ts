import type Router from '@koa/router';
import { presentTenant } from '../../domain/present.js';
import type { Deps } from '../../deps.js';
import { findTenantsPage } from '../../domain/tenants/tenants.queries.js';
import type { TenantSettings } from '../../domain/tenants/tenants.types.js';
import { changeTenantSettings, createTenant, removeTenant } from '../../domain/tenants/tenants.service.js';
import { z } from 'zod';
import { requireAdmin } from '../access.js';
import { decodeCursor, ListQuery, page } from '../pagination.js';
import { CreateTenant, PatchTenant } from './tenants.schema.js';

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
