import type Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { presentSamlConnection, SamlConnectionAnswer } from '../../domain/saml-connections/saml-connection.present.js';
import { findSamlConnection, findSamlConnectionsPage } from '../../domain/saml-connections/saml-connections.queries.js';
import { changeSamlConnection, createSamlConnection, removeSamlConnection } from '../../domain/saml-connections/saml-connections.service.js';
import { SAML_CONNECTION_NAME, type AttributeMapping, type SamlConnectionInput } from '../../domain/saml-connections/saml-connections.types.js';
import { requireAdmin } from '../access.js';
import { operations } from '../operations.js';
import { decodeCursor, ListQuery, page } from '../pagination.js';
import { Problem } from '../problem.js';
import { CreateSamlConnection, PatchSamlConnection } from './saml-connections.schema.js';

const PATH = /\/tenants\/[^/]+\/saml-connections(?:\/[^/]*)?$/;

/**
 * IdP metadata runs past the admin API's 64 kB (ADFS's is often 60–100 kB before JSON escaping),
 * so these routes alone parse up to 1 MB; the metadata itself is capped at 256 kB. Mounted before
 * the general parser, which then finds the body parsed and leaves it.
 */
export function samlConnectionBodyParser(): Middleware {
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: '1mb', encoding: 'utf-8' });
  return (ctx, next) => (PATH.test(ctx.path) ? parse(ctx, next) : next());
}

/** The OpenAPI operations of the routes below (admin/operations.ts). */
export const samlConnectionOperations = operations('SAML connections', [
  {
    method: 'post', path: '/tenants/{slug}/saml-connections', operationId: 'createSamlConnection', summary: 'Federate a SAML IdP',
    description: 'The answer shows what was read from the IdP\'s metadata and the SP URLs to give the IdP. Bodies up to 1 MB (the metadata up to 256 kB).',
    body: CreateSamlConnection, status: 201, response: SamlConnectionAnswer, errors: [409, 413],
  },
  { method: 'get', path: '/tenants/{slug}/saml-connections', operationId: 'listSamlConnections', summary: 'List SAML connections by name (without their metadata XML)', list: true, response: SamlConnectionAnswer },
  { method: 'get', path: '/tenants/{slug}/saml-connections/{name}', operationId: 'getSamlConnection', summary: 'Read a SAML connection', response: SamlConnectionAnswer },
  {
    method: 'patch', path: '/tenants/{slug}/saml-connections/{name}', operationId: 'updateSamlConnection', summary: 'Replace any subset of a SAML connection\'s fields (not its name)',
    body: PatchSamlConnection, response: SamlConnectionAnswer, errors: [409, 413],
  },
  { method: 'delete', path: '/tenants/{slug}/saml-connections/{name}', operationId: 'deleteSamlConnection', summary: 'Delete a SAML connection', status: 204 },
]);

const notFound = () => new Problem(404, 'saml_connection_not_found', 'There is no SAML connection with this name in this tenant.');

type Body = Partial<z.output<typeof PatchSamlConnection>>;
function toInput(b: Body): Partial<SamlConnectionInput> {
  return {
    displayName: b.display_name,
    idpMetadataXml: b.idp_metadata_xml,
    emailDomains: b.email_domains,
    attributeMapping: b.attribute_mapping as AttributeMapping | undefined,
    groupRoleMapping: b.group_role_mapping,
    allowIdpInitiated: b.allow_idp_initiated,
    upstreamMfaCounts: b.upstream_mfa_counts,
  };
}

export function samlConnectionRoutes(router: Router, deps: Deps) {
  const admin = requireAdmin(deps);
  /** The addressed name; one that breaks the name rule cannot name a connection. */
  const nameOf = (ctx: Context & { params: Record<string, string> }) => {
    if (!SAML_CONNECTION_NAME.test(ctx.params.name)) throw notFound();
    return ctx.params.name;
  };
  const present = (ctx: Context, c: Parameters<typeof presentSamlConnection>[0]) =>
    presentSamlConnection(c, ctx.state.tenant, deps.config.publicUrl, { withXml: true });

  router.post('/tenants/:slug/saml-connections', admin, async (ctx) => {
    const { name, ...b } = CreateSamlConnection.parse(ctx.request.body);
    const input = { ...toInput(b), groupRoleMapping: b.group_role_mapping ?? {} } as SamlConnectionInput;
    const created = await createSamlConnection(deps, ctx.state.tenant, name, input, ctx.state.actor);
    ctx.status = 201;
    ctx.body = present(ctx, created);
  });

  router.get('/tenants/:slug/saml-connections', admin, async (ctx) => {
    const { limit, cursor } = ListQuery.parse(ctx.query);
    const rows = await findSamlConnectionsPage(deps.db, ctx.state.tenant.id, { afterName: decodeCursor(cursor, z.string()), limit: limit + 1 });
    ctx.body = page(rows, limit, (c) => c.name, (c) => presentSamlConnection(c, ctx.state.tenant, deps.config.publicUrl));
  });

  router.get('/tenants/:slug/saml-connections/:name', admin, async (ctx) => {
    const connection = await findSamlConnection(deps.db, ctx.state.tenant.id, nameOf(ctx));
    if (!connection) throw notFound();
    ctx.body = present(ctx, connection);
  });

  router.patch('/tenants/:slug/saml-connections/:name', admin, async (ctx) => {
    const name = nameOf(ctx);
    const changes = toInput(PatchSamlConnection.parse(ctx.request.body));
    const changed = await changeSamlConnection(deps, ctx.state.tenant, name, changes, ctx.state.actor);
    if (!changed) throw notFound();
    ctx.body = present(ctx, changed);
  });

  router.delete('/tenants/:slug/saml-connections/:name', admin, async (ctx) => {
    if (!(await removeSamlConnection(deps, ctx.state.tenant, nameOf(ctx), ctx.state.actor))) throw notFound();
    ctx.status = 204;
  });
}
