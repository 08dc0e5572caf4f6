import type { Context } from 'koa';
import type { Deps } from '../../deps.js';
import { findSamlConnection } from '../../domain/saml-connections/saml-connections.queries.js';
import { SAML_CONNECTION_NAME } from '../../domain/saml-connections/saml-connections.types.js';
import { ensureSpKey } from '../../domain/saml-connections/sp-key.js';
import type { Tenant } from '../../domain/tenants/tenants.types.js';
import { serviceProvider, wantsSignedRequests } from './service-provider.js';

/**
 * `GET ${issuer}/saml/${name}/metadata`: this connection's SP metadata, what an IdP admin imports
 * (entity ID = this URL, the ACS with HTTP-POST, NameID formats, WantAssertionsSigned, and the
 * signing certificate of the AuthnRequests when the IdP asks for signed ones). Public, as SP
 * metadata is; it holds no secret.
 */
export async function serveSpMetadata(ctx: Context, deps: Deps) {
  const tenant = ctx.state.tenant as Tenant;
  const name = String(ctx.params.name);
  const connection = SAML_CONNECTION_NAME.test(name) ? await findSamlConnection(deps.db, tenant.id, name) : undefined;
  if (!connection) {
    ctx.status = 404;
    ctx.body = { error: 'not_found', error_description: 'no such SAML connection' };
    return;
  }
  const key = wantsSignedRequests(connection) ? await ensureSpKey(deps, tenant, connection.name) : undefined;
  ctx.type = 'application/samlmetadata+xml';
  ctx.set('Cache-Control', 'no-cache');
  ctx.body = serviceProvider(deps.config.publicUrl, tenant, connection, key).getMetadata();
}
