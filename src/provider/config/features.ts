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
    introspection: { enabled: true },
    revocation: { enabled: true },
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
