import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { ClientAnswer, ClientSecretAnswer, presentClient, RoleNamesAnswer } from '../../domain/present.js';
import type { Deps } from '../../deps.js';
import { findClient, findClientsPage } from '../../domain/clients/clients.queries.js';
import { changeClientMetadata, needsSecret, registerClient, removeClient, rotateClientSecret, setClientRoles } from '../../domain/clients/clients.service.js';
import { findClientRoleNames, findRoleNamesOfClients } from '../../domain/rbac/rbac.queries.js';
import type { TenantRegistry } from '../../tenancy/registry.js';
import { clientValidator } from '../../tenancy/validate-client.js';
import { assertMayGrant, requireAdmin } from '../access.js';
import { operations } from '../operations.js';
import { decodeCursor, ListQuery, page } from '../pagination.js';
import { Problem } from '../problem.js';
import { ClientRoles, CreateClient, PatchClient } from './clients.schema.js';

const clientExample = {
  client_id: 'kq3Xb7TnV0mA2pLw9sYd1', client_secret: 'Zc4v…shown-once', client_name: 'Acme web', redirect_uris: ['https://app.acme.example/callback'],
  post_logout_redirect_uris: ['https://app.acme.example/'], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic', roles: [], created_at: '2026-01-15T09:31:00.000Z', updated_at: '2026-01-15T09:31:00.000Z',
};

/** The OpenAPI operations of the routes below (admin/operations.ts). */
export const clientOperations = operations('Clients', [
  {
    method: 'post', path: '/tenants/{slug}/clients', operationId: 'createClient', summary: 'Register a client; the answer carries client_secret once',
    description: 'Takes OIDC client metadata (RFC 7591 names); any other name the tenant\'s provider recognises is accepted and checked by it. `admin_access: true` lets the client obtain admin API tokens.',
    body: CreateClient, status: 201, response: ClientAnswer, errors: [409],
    requestExample: { client_name: 'Acme web', redirect_uris: ['https://app.acme.example/callback'], post_logout_redirect_uris: ['https://app.acme.example/'], grant_types: ['authorization_code', 'refresh_token'] },
    responseExample: clientExample,
  },
  { method: 'get', path: '/tenants/{slug}/clients', operationId: 'listClients', summary: 'List clients by client_id', list: true, response: ClientAnswer },
  { method: 'get', path: '/tenants/{slug}/clients/{client_id}', operationId: 'getClient', summary: 'Read a client (never its secret)', response: ClientAnswer },
  { method: 'patch', path: '/tenants/{slug}/clients/{client_id}', operationId: 'updateClient', summary: 'Change client metadata', body: PatchClient, response: ClientAnswer, requestExample: { client_name: 'Acme web app' } },
  { method: 'delete', path: '/tenants/{slug}/clients/{client_id}', operationId: 'deleteClient', summary: 'Delete a client', status: 204 },
  {
    method: 'post', path: '/tenants/{slug}/clients/{client_id}/secret', operationId: 'rotateClientSecret', summary: 'Rotate the client secret; the new one is shown once',
    description: 'Answers 409 `public_client` for a client that authenticates without a secret.', response: ClientSecretAnswer, errors: [409],
  },
  { method: 'put', path: '/tenants/{slug}/clients/{client_id}/roles', operationId: 'replaceClientRoles', summary: 'Replace a client\'s roles', body: ClientRoles, response: RoleNamesAnswer, requestExample: { roles: ['tenant-admin'] } },
]);

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
    let roles: string[] = [];
    const client = await changeClientMetadata(deps, ctx.state.tenant, await load(ctx), changes, ctx.state.actor, validate,
      async (trx, changed) => void (roles = await findClientRoleNames(trx, changed.tenantId, changed.clientId)));
    ctx.body = presentClient(client, roles);
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
