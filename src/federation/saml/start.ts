import type { Context } from 'koa';
import type { Deps } from '../../deps.js';
import { findSamlConnection } from '../../domain/saml-connections/saml-connections.queries.js';
import { ensureSpKey } from '../../domain/saml-connections/sp-key.js';
import type { Tenant } from '../../domain/tenants/tenants.types.js';
import { refuseSamlLogin, type OnVerified } from './acs.js';
import { trackAuthnRequest } from './replay-guard.js';
import { SamlRefusal } from './response-checks.js';
import { identityProvider, serviceProvider, wantsSignedRequests } from './service-provider.js';
import { takeUnsolicited } from './unsolicited.js';

/**
 * SP-initiated login (`${issuer}/saml/${name}/start?interaction=${uid}`, reached from the login
 * page): an AuthnRequest over HTTP-Redirect to the IdP's SSO endpoint, signed when the IdP asks
 * for it. Its ID is kept in kv for AUTHN_REQUEST_TTL_SECONDS, bound to this connection and this
 * interaction: the ACS accepts a response to it once, on any node.
 *
 * A browser that brings the ticket of a verified IdP-initiated assertion (unsolicited.ts) finishes
 * the login with that identity instead.
 */
export function startSaml(onVerified: OnVerified) {
  return async (ctx: Context, deps: Deps, tenant: Tenant, request: { name: string; interactionUid: string; loginHint?: string }) => {
    const connection = await findSamlConnection(deps.db, tenant.id, request.name);
    if (!connection) return refuseSamlLogin(ctx, deps, tenant, request.name, new SamlRefusal('unknown_connection', 404));
    const identity = connection.allowIdpInitiated ? await takeUnsolicited(ctx, deps, tenant, connection.name) : undefined;
    if (identity) return onVerified(ctx, deps, tenant, { connection, identity, interactionUid: request.interactionUid });
    const key = wantsSignedRequests(connection) ? await ensureSpKey(deps, tenant, connection.name) : undefined;
    let login: { id: string; context: string };
    try {
      login = serviceProvider(deps.config.publicUrl, tenant, connection, key).createLoginRequest(identityProvider(connection), 'redirect') as { id: string; context: string };
    } catch {
      // An IdP with no HTTP-Redirect SSO endpoint (HTTP-POST only) cannot be sent an AuthnRequest this way.
      return refuseSamlLogin(ctx, deps, tenant, connection.name, new SamlRefusal('start_failed', 502));
    }
    await trackAuthnRequest(deps, tenant.id, connection.name, login.id, { interactionUid: request.interactionUid });
    ctx.status = 303;
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(login.context);
  };
}
