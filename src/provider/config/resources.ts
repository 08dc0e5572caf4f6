import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Deps } from '../../deps.js';
import { findGrantedOnResource, findResourceByIdentifier } from '../../domain/rbac/rbac.queries.js';
import type { Tenant } from '../../domain/tenants/tenants.types.js';
import type { GatehouseAccount } from '../account.js';
import type { TenantCache } from '../tenant-cache.js';

export const adminResource = (publicUrl: string) => `${publicUrl}/admin`;

/**
 * What a grant records once the user consented to the admin API. The admin resource server offers
 * no scope, so no token ever carries it; oidc-provider drops a resource with no scope from a grant,
 * hence a value at all.
 */
export const ADMIN_CONSENT = 'gatehouse:admin';

/** DESIGN.md "Admin API": the admin resource is for clients an admin marked `admin_access: true`. */
export const hasAdminAccess = (metadata: { admin_access?: unknown } | undefined) => metadata?.admin_access === true;

/**
 * RFC 8707 resource indicators. The scope a resource server may receive is what the subject's
 * roles grant on it, evaluated at every issue (refresh included); oidc-provider intersects it with
 * the requested scope. The admin API takes no scope: it authorises by the principal's roles.
 */
export function resourceIndicators(tenant: Tenant, deps: Pick<Deps, 'db' | 'config'>, signingAlg: () => string, cache?: TenantCache) {
  const grantedToClient = (indicator: string, clientId: string) => {
    const load = async () => {
      const found = await findGrantedOnResource(deps.db, tenant.id, indicator, { clientId });
      return found.exists ? found.granted : undefined;
    };
    // A client's grants change only through announced writes (roles, permissions, resources:
    // area 'rbac' or 'clients'), so they are kept until the change feed drops them.
    const key = `${clientId}\n${indicator}`;
    // A hit answers without a promise: this runs on every client_credentials grant.
    return cache?.peek(cache.grants, key) ?? (cache ? cache.remember(cache.grants, key, load) : load());
  };
  const grantedToUser = (indicator: string, userId: string) => {
    const load = async () => {
      const found = await findGrantedOnResource(deps.db, tenant.id, indicator, { userId });
      return found.exists ? Object.freeze(found.granted) : undefined;
    };
    // A user's roles come from their own assignments and their groups: every change to those, to
    // roles or to resources is announced ('users' or 'rbac'), and any of them drops this.
    return cache ? cache.remember(cache.userGrants, `${userId}\n${indicator}`, load) : load();
  };
  // Made whole, not spread from a shared base: it is made on every token issue.
  const serverInfo = (indicator: string, scope: string) => ({
    audience: indicator,
    accessTokenFormat: 'jwt' as const,
    accessTokenTTL: tenant.settings.access_token_ttl,
    jwt: { sign: { alg: signingAlg() } },
    scope,
  });
  return {
    enabled: true,
    defaultResource: async (_ctx: KoaContextWithOIDC, _client: unknown, oneOf?: string | string[]) => oneOf,
    useGrantedResource: async () => false,
    getResourceServerInfo: async (ctx: KoaContextWithOIDC, indicator: string, client: { clientId: string; admin_access?: unknown }) => {
      if (indicator === adminResource(deps.config.publicUrl)) {
        // Asked at the authorization endpoint and again at every token issue (code, refresh,
        // client_credentials): a client whose admin_access was removed gets no new admin token.
        if (!hasAdminAccess(client)) throw new errors.InvalidTarget('this client may not obtain tokens for the admin API');
        return serverInfo(indicator, '');
      }
      const account = ctx.oidc.account as GatehouseAccount | undefined;
      if (!account && ctx.oidc.params?.grant_type === 'client_credentials') {
        const pending = grantedToClient(indicator, client.clientId);
        const granted = pending instanceof Promise ? await pending : pending;
        if (!granted) throw new errors.InvalidTarget('unknown resource');
        return serverInfo(indicator, granted.join(' '));
      }
      if (account) {
        const granted = await grantedToUser(indicator, account.accountId);
        if (!granted) throw new errors.InvalidTarget('unknown resource');
        return serverInfo(indicator, granted.join(' '));
      }
      // Authorization endpoint before login: the consent step narrows to the user's permissions.
      const resource = await findResourceByIdentifier(deps.db, tenant.id, indicator);
      if (!resource) throw new errors.InvalidTarget('unknown resource');
      const granted = resource.permissions;
      return serverInfo(indicator, granted.join(' '));
    },
  };
}
