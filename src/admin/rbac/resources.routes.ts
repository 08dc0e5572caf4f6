import type Router from '@koa/router';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { presentResource, ResourceAnswer } from '../../domain/present.js';
import { changeResource, createResource, removeResource } from '../../domain/rbac/rbac.service.js';
import { findResourceById, findResourcesPage } from '../../domain/rbac/resources.queries.js';
import { adminResource } from '../../provider/config/resources.js';
import { requireAdmin } from '../access.js';
import { operations } from '../operations.js';
import { decodeCursor, ListQuery, page } from '../pagination.js';
import { uuidParam } from '../params.js';
import { Problem } from '../problem.js';
import { CreateResource, PatchResource } from './rbac.schema.js';

const notFound = () => new Problem(404, 'resource_not_found', 'There is no API resource with this id in this tenant.');

/** The OpenAPI operations of the routes below (admin/operations.ts). */
export const resourceOperations = operations('Resources', [
  {
    method: 'post', path: '/tenants/{slug}/resources', operationId: 'createResource', summary: 'Register an API resource (RFC 8707 identifier) and its permissions',
    body: CreateResource, status: 201, response: ResourceAnswer, errors: [409],
    requestExample: { identifier: 'https://api.acme.example', name: 'Acme API', permissions: [{ name: 'invoices:read', description: 'Read invoices' }] },
  },
  { method: 'get', path: '/tenants/{slug}/resources', operationId: 'listResources', summary: 'List API resources by identifier', list: true, response: ResourceAnswer },
  { method: 'get', path: '/tenants/{slug}/resources/{id}', operationId: 'getResource', summary: 'Read an API resource', response: ResourceAnswer },
  {
    method: 'patch', path: '/tenants/{slug}/resources/{id}', operationId: 'updateResource', summary: 'Rename, or replace the permission list',
    description: 'Dropped permissions leave every role.', body: PatchResource, response: ResourceAnswer,
  },
  { method: 'delete', path: '/tenants/{slug}/resources/{id}', operationId: 'deleteResource', summary: 'Delete an API resource', status: 204 },
]);

/** API resources (RFC 8707 identifiers) and the permissions they define. */
export function resourceRoutes(router: Router, deps: Deps) {
  const admin = requireAdmin(deps);

  router.post('/tenants/:slug/resources', admin, async (ctx) => {
    const b = CreateResource.parse(ctx.request.body);
    // Gatehouse's own URLs (the admin API resource among them) cannot name a tenant's API.
    if (b.identifier.toLowerCase().startsWith(`${deps.config.publicUrl.toLowerCase()}/`) || b.identifier === adminResource(deps.config.publicUrl)) {
      throw new Problem(400, 'reserved_resource', 'Identifiers under Gatehouse\'s own URL are reserved (the admin API is one).', [{ field: 'identifier', message: 'reserved' }]);
    }
    ctx.status = 201;
    ctx.body = presentResource(await createResource(deps, ctx.state.tenant, b, ctx.state.actor));
  });

  router.get('/tenants/:slug/resources', admin, async (ctx) => {
    const { limit, cursor } = ListQuery.parse(ctx.query);
    const rows = await findResourcesPage(deps.db, ctx.state.tenant.id, { afterIdentifier: decodeCursor(cursor, z.string()), limit: limit + 1 });
    ctx.body = page(rows, limit, (r) => r.identifier, presentResource);
  });

  router.get('/tenants/:slug/resources/:id', admin, async (ctx) => {
    const resource = await findResourceById(deps.db, ctx.state.tenant.id, uuidParam(ctx, 'id', notFound));
    if (!resource) throw notFound();
    ctx.body = presentResource(resource);
  });

  router.patch('/tenants/:slug/resources/:id', admin, async (ctx) => {
    const b = PatchResource.parse(ctx.request.body);
    const resource = await changeResource(deps, ctx.state.tenant, uuidParam(ctx, 'id', notFound), b, ctx.state.actor);
    if (!resource) throw notFound();
    ctx.body = presentResource(resource);
  });

  router.delete('/tenants/:slug/resources/:id', admin, async (ctx) => {
    if (!(await removeResource(deps, ctx.state.tenant, uuidParam(ctx, 'id', notFound), ctx.state.actor))) throw notFound();
    ctx.status = 204;
  });
}
