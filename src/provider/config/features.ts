import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Deps } from '../../deps.js';
import type { Tenant } from '../../domain/tenants/tenants.types.js';
import { logoutSource, postLogoutSuccessSource } from './pages.js';
import { resourceIndicators } from './resources.js';
import { EXTERNAL_SIGNING } from '../signing-key.js';
import type { TenantCache } from '../tenant-cache.js';

/** DESIGN.md "OpenID Connect / OAuth 2.0 surface". */
export function features(tenant: Tenant, deps: Pick<Deps, 'db' | 'config'>, signingAlg: () => string, cache?: TenantCache) {
  return {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: introspectionAllowed },
    revocation: { enabled: true, allowedPolicy: revocationAllowed },
    userinfo: { enabled: true },
    deviceFlow: { enabled: true },
    pushedAuthorizationRequests: { enabled: true },
    dPoP: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true, logoutSource: logoutSource(tenant), postLogoutSuccessSource: postLogoutSuccessSource(tenant) },
    resourceIndicators: resourceIndicators(tenant, deps, signingAlg, cache),
    externalSigningSupport: EXTERNAL_SIGNING,
  };
}

type PolicyClient = { clientId: string; clientAuthMethod: string };
type PolicyToken = { clientId?: string };

/**
 * RFC 7662 §2.1, §4: the tenant's authenticated clients (its resource servers) may introspect any
 * of its tokens; a public client, which anyone can be, only its own (an other's reads inactive).
 * Written out rather than left to oidc-provider's default, which asks to be decided at each start.
 */
async function introspectionAllowed(_ctx: KoaContextWithOIDC, client: PolicyClient, token: PolicyToken) {
  return client.clientAuthMethod !== 'none' || token.clientId === client.clientId;
}

/**
 * RFC 7009 §2.1: a client revokes only tokens issued to it. A confidential client presenting
 * another's token is told so; a public one gets the 200 of a token it does not know (§2.2).
 */
async function revocationAllowed(_ctx: KoaContextWithOIDC, client: PolicyClient, token: PolicyToken) {
  if (token.clientId === client.clientId) return true;
  if (client.clientAuthMethod === 'none') return false;
  throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
}
