import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { presentClient } from '../../domain/present.js';
import type { Deps } from '../../deps.js';
import { findClient, findClientsPage } from '../../domain/clients/clients.queries.js';
import { changeClientMetadata, needsSecret, registerClient, removeClient, rotateClientSecret, setClientRoles } from '../../domain/clients/clients.service.js';
import { findClientRoleNames, findRoleNamesOfClients } from '../../domain/rbac/rbac.queries.js';
import type { TenantRegistry } from '../../tenancy/registry.js';
import { clientValidator } from '../../tenancy/validate-client.js';
import { assertMayGrant, requireAdmin } from '../access.js';
import { decodeCursor, ListQuery, page } from '../pagination.js';
import { Problem } from '../problem.js';
import { ClientRoles, CreateClient, PatchClient } from './clients.schema.js';

export function clientRoutes(router: Router, deps: Deps, registry: TenantRegistry) {
  const admin = requireAdmin(deps);
  const validate = clientValidator(registry);
  const load = async (ctx: Context & { params: Record<string, string> }) => {
    const client = await findClient(deps.db, ctx.state.tenant.id, ctx.params.client_id);
    if (!client) throw new Problem(404, 'client_not_found', 'There is no client with this client_id in this tenant.');
    return client;
  };

  router.post('/tenants/:slug/clients', admin, async (ctx) => {
    const { roles, ...metadata } = CreateClient.parse(ctx.request.body);
    assertMayGrant(ctx.state.principal, ctx.state.tenant, roles);
    const created = await registerClient(deps, ctx.state.tenant, { metadata, roles }, ctx.state.actor, validate);
    ctx.status = 201;
    ctx.body = presentClient(created.client, created.roles, created.secret); // the only time it is shown
  });

  router.get('/tenants/:slug/clients', admin, async (ctx) => {
    const { limit, cursor } = ListQuery.parse(ctx.query);
    const rows = await findClientsPage(deps.db, ctx.state.tenant.id, { afterClientId: decodeCursor(cursor, z.string()), limit: limit + 1 });
    const roles = await findRoleNamesOfClients(deps.db, ctx.state.tenant.id, rows.slice(0, limit).map((c) => c.clientId));
    ctx.body = page(rows, limit, (c) => c.clientId, (c) => presentClient(c, roles.get(c.clientId) ?? []));
  });

  router.get('/tenants/:slug/clients/:client_id', admin, async (ctx) => {
    const client = await load(ctx);
    ctx.body = presentClient(client, await findClientRoleNames(deps.db, client.tenantId, client.clientId));
  });

  router.patch('/tenants/:slug/clients/:client_id', admin, async (ctx) => {
    const changes = PatchClient.parse(ctx.request.body);
    const client = await changeClientMetadata(deps, ctx.state.tenant, await load(ctx), changes, ctx.state.actor, validate);
    ctx.body = presentClient(client, await findClientRoleNames(deps.db, client.tenantId, client.clientId));
  });

  router.delete('/tenants/:slug/clients/:client_id', admin, async (ctx) => {
    if (!(await removeClient(deps, ctx.state.tenant, ctx.params.client_id, ctx.state.actor))) await load(ctx);
    ctx.status = 204;
  });

  router.post('/tenants/:slug/clients/:client_id/secret', admin, async (ctx) => {
    const client = await load(ctx);
    if (!needsSecret(client.metadata)) throw new Problem(409, 'public_client', 'This client authenticates without a secret.');
    const secret = await rotateClientSecret(deps, ctx.state.tenant, client.clientId, ctx.state.actor);
    ctx.body = { client_id: client.clientId, client_secret: secret }; // the only time it is shown
  });

  router.put('/tenants/:slug/clients/:client_id/roles', admin, async (ctx) => {
    const { roles } = ClientRoles.parse(ctx.request.body);
    assertMayGrant(ctx.state.principal, ctx.state.tenant, roles);
    const client = await load(ctx);
    ctx.body = { roles: await setClientRoles(deps, ctx.state.tenant, client.clientId, roles, ctx.state.actor) };
  });
}
