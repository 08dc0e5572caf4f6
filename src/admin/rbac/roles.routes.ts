import type Router from '@koa/router';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { presentRole, RoleAnswer } from '../../domain/present.js';
import { changeRole, createRole, removeRole } from '../../domain/rbac/rbac.service.js';
import { findRoleById, findRolesPage } from '../../domain/rbac/roles.queries.js';
import { assertMayGrant, requireAdmin } from '../access.js';
import { operations } from '../operations.js';
import { decodeCursor, ListQuery, page } from '../pagination.js';
import { uuidParam } from '../params.js';
import { Problem } from '../problem.js';
import { CreateRole, PatchRole } from './rbac.schema.js';

const notFound = () => new Problem(404, 'role_not_found', 'There is no role with this id in this tenant.');

/** The OpenAPI operations of the routes below (admin/operations.ts). */
export const roleOperations = operations('Roles', [
  {
    method: 'post', path: '/tenants/{slug}/roles', operationId: 'createRole', summary: 'Create a role bundling permissions', body: CreateRole, status: 201, response: RoleAnswer, errors: [409],
    requestExample: { name: 'billing-admin', description: 'Manages invoices', permissions: [{ resource: 'https://api.acme.example', permission: 'invoices:read' }] },
  },
  { method: 'get', path: '/tenants/{slug}/roles', operationId: 'listRoles', summary: 'List roles by name', list: true, response: RoleAnswer },
  { method: 'get', path: '/tenants/{slug}/roles/{id}', operationId: 'getRole', summary: 'Read a role', response: RoleAnswer },
  { method: 'patch', path: '/tenants/{slug}/roles/{id}', operationId: 'updateRole', summary: 'Change a role (built-in roles keep their name)', body: PatchRole, response: RoleAnswer, errors: [409] },
  { method: 'delete', path: '/tenants/{slug}/roles/{id}', operationId: 'deleteRole', summary: 'Delete a role (never a built-in one)', status: 204, errors: [409] },
]);

/** Roles bundle permissions; they are assigned to users, groups and clients by name. */
export function roleRoutes(router: Router, deps: Deps) {
  const admin = requireAdmin(deps);

  router.post('/tenants/:slug/roles', admin, async (ctx) => {
    const b = CreateRole.parse(ctx.request.body);
    ctx.status = 201;
    ctx.body = presentRole(await createRole(deps, ctx.state.tenant, b, ctx.state.actor));
  });

  router.get('/tenants/:slug/roles', admin, async (ctx) => {
    const { limit, cursor } = ListQuery.parse(ctx.query);
    const rows = await findRolesPage(deps.db, ctx.state.tenant.id, { afterName: decodeCursor(cursor, z.string()), limit: limit + 1 });
    ctx.body = page(rows, limit, (r) => r.name, presentRole);
  });

  router.get('/tenants/:slug/roles/:id', admin, async (ctx) => {
    const role = await findRoleById(deps.db, ctx.state.tenant.id, uuidParam(ctx, 'id', notFound));
    if (!role) throw notFound();
    ctx.body = presentRole(role);
  });

  router.patch('/tenants/:slug/roles/:id', admin, async (ctx) => {
    const b = PatchRole.parse(ctx.request.body);
    // Renaming a role to system-admin would grant it to every holder.
    assertMayGrant(ctx.state.principal, ctx.state.tenant, b.name ? [b.name] : undefined);
    const role = await changeRole(deps, ctx.state.tenant, uuidParam(ctx, 'id', notFound), b, ctx.state.actor);
    if (!role) throw notFound();
    ctx.body = presentRole(role);
  });

  router.delete('/tenants/:slug/roles/:id', admin, async (ctx) => {
    if (!(await removeRole(deps, ctx.state.tenant, uuidParam(ctx, 'id', notFound), ctx.state.actor))) throw notFound();
    ctx.status = 204;
  });
}
