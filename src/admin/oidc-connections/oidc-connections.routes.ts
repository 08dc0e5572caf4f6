import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { OidcConnectionAnswer, presentOidcConnection } from '../../domain/oidc-connections/oidc-connection.present.js';
import { findOidcConnection, findOidcConnectionsPage } from '../../domain/oidc-connections/oidc-connections.queries.js';
import { changeOidcConnection, createOidcConnection, removeOidcConnection } from '../../domain/oidc-connections/oidc-connections.service.js';
import { DEFAULT_OIDC_SCOPES, OIDC_CONNECTION_NAME, type ClaimMapping, type OidcConnectionInput } from '../../domain/oidc-connections/oidc-connections.types.js';
import { requireAdmin } from '../access.js';
import { operations } from '../operations.js';
import { decodeCursor, ListQuery, page } from '../pagination.js';
import { Problem } from '../problem.js';
import { CreateOidcConnection, PatchOidcConnection } from './oidc-connections.schema.js';

/** The OpenAPI operations of the routes below (admin/operations.ts). */
export const oidcConnectionOperations = operations('OIDC connections', [
  {
    method: 'post', path: '/tenants/{slug}/oidc-connections', operationId: 'createOidcConnection', summary: 'Federate an upstream OpenID provider',
    description: 'The client secret is stored encrypted and never answered; register the answer\'s redirect_uri at the upstream provider.',
    body: CreateOidcConnection, status: 201, response: OidcConnectionAnswer, errors: [409],
  },
  { method: 'get', path: '/tenants/{slug}/oidc-connections', operationId: 'listOidcConnections', summary: 'List OIDC connections by name', list: true, response: OidcConnectionAnswer },
  { method: 'get', path: '/tenants/{slug}/oidc-connections/{name}', operationId: 'getOidcConnection', summary: 'Read an OIDC connection (never its secret)', response: OidcConnectionAnswer },
  {
    method: 'patch', path: '/tenants/{slug}/oidc-connections/{name}', operationId: 'updateOidcConnection', summary: 'Replace any subset of an OIDC connection\'s fields (not its name); a new client_secret replaces the stored one',
    body: PatchOidcConnection, response: OidcConnectionAnswer, errors: [409],
  },
  { method: 'delete', path: '/tenants/{slug}/oidc-connections/{name}', operationId: 'deleteOidcConnection', summary: 'Delete an OIDC connection (its users stay; they can no longer sign in through it)', status: 204 },
]);

/** An http:// issuer is for trials on one machine; production talks to its providers over TLS. */
function assertIssuerAllowed(deps: Deps, issuer: string | undefined) {
  if (issuer?.startsWith('http:') && deps.config.production) {
    throw new Problem(400, 'invalid_request', 'issuer must be an https URL when NODE_ENV=production.', [{ field: 'issuer', message: 'must be an https URL' }]);
  }
}

const notFound = () => new Problem(404, 'oidc_connection_not_found', 'There is no OIDC connection with this name in this tenant.');

type Body = Partial<z.output<typeof PatchOidcConnection>>;
function toInput(b: Body): Partial<OidcConnectionInput> {
  return {
    displayName: b.display_name,
    issuer: b.issuer,
    clientId: b.client_id,
    clientSecret: b.client_secret,
    tokenEndpointAuthMethod: b.token_endpoint_auth_method,
    scopes: b.scopes,
    emailDomains: b.email_domains,
    claimMapping: b.claim_mapping as ClaimMapping | undefined,
    groupRoleMapping: b.group_role_mapping,
    trustEmail: b.trust_email,
    upstreamMfaCounts: b.upstream_mfa_counts,
  };
}

/** `/tenants/{slug}/oidc-connections` (DESIGN.md "Admin API"): the client secret goes in, never out. */
export function oidcConnectionRoutes(router: Router, deps: Deps) {
  const admin = requireAdmin(deps);
  const nameOf = (ctx: Context & { params: Record<string, string> }) => {
    if (!OIDC_CONNECTION_NAME.test(ctx.params.name)) throw notFound();
    return ctx.params.name;
  };
  const present = (ctx: Context, c: Parameters<typeof presentOidcConnection>[0]) => presentOidcConnection(c, ctx.state.tenant, deps.config.publicUrl);

  router.post('/tenants/:slug/oidc-connections', admin, async (ctx) => {
    const { name, ...b } = CreateOidcConnection.parse(ctx.request.body);
    assertIssuerAllowed(deps, b.issuer);
    const input = { ...toInput(b), scopes: b.scopes ?? DEFAULT_OIDC_SCOPES, groupRoleMapping: b.group_role_mapping ?? {} } as OidcConnectionInput;
    const created = await createOidcConnection(deps, ctx.state.tenant, name, input, ctx.state.actor);
    ctx.status = 201;
    ctx.body = present(ctx, created);
  });

  router.get('/tenants/:slug/oidc-connections', admin, async (ctx) => {
    const { limit, cursor } = ListQuery.parse(ctx.query);
    const rows = await findOidcConnectionsPage(deps.db, ctx.state.tenant.id, { afterName: decodeCursor(cursor, z.string()), limit: limit + 1 });
    ctx.body = page(rows, limit, (c) => c.name, (c) => present(ctx, c));
  });

  router.get('/tenants/:slug/oidc-connections/:name', admin, async (ctx) => {
    const connection = await findOidcConnection(deps.db, ctx.state.tenant.id, nameOf(ctx));
    if (!connection) throw notFound();
    ctx.body = present(ctx, connection);
  });

  router.patch('/tenants/:slug/oidc-connections/:name', admin, async (ctx) => {
    const name = nameOf(ctx);
    const changes = toInput(PatchOidcConnection.parse(ctx.request.body));
    assertIssuerAllowed(deps, changes.issuer);
    const changed = await changeOidcConnection(deps, ctx.state.tenant, name, changes, ctx.state.actor);
    if (!changed) throw notFound();
    ctx.body = present(ctx, changed);
  });

  router.delete('/tenants/:slug/oidc-connections/:name', admin, async (ctx) => {
    if (!(await removeOidcConnection(deps, ctx.state.tenant, nameOf(ctx), ctx.state.actor))) throw notFound();
    ctx.status = 204;
  });
}
