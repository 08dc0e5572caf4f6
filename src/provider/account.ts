import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { Deps } from '../deps.js';
import { findUserRoleNames } from '../domain/rbac/rbac.queries.js';
import { findUserById } from '../domain/users/users.queries.js';
import type { User } from '../domain/users/users.types.js';
import type { TenantCache } from './tenant-cache.js';

export interface GatehouseAccount extends Account {
  user: Readonly<User>;
  roles(): Promise<string[]>;
}

/**
 * A disabled or deleted user has no account: their refreshes and userinfo calls fail.
 *
 * The user record and role names are kept in the tenant's cache, which the change feed drops on
 * every node when a user, a role assignment, a group or a role changes (domain/changes.ts areas
 * 'users' and 'rbac'), so disabling a user holds on the next request. Credentials are not part of
 * the record: a password is always checked against the hash read at login.
 */
export function findAccount(tenantId: string, deps: Pick<Deps, 'db'>, cache?: TenantCache) {
  const loadUser = (sub: string) => (cache ? cache.remember(cache.users, sub, () => findUserById(deps.db, tenantId, sub).then(freeze)) : findUserById(deps.db, tenantId, sub));
  const loadRoles = async (sub: string) => [...((cache ? await cache.remember(cache.userRoles, sub, () => findUserRoleNames(deps.db, tenantId, sub).then(freeze)) : await findUserRoleNames(deps.db, tenantId, sub)) ?? [])];
  return async (_ctx: KoaContextWithOIDC, sub: string): Promise<GatehouseAccount | undefined> => {
    if (!/^[0-9a-f-]{36}$/i.test(sub)) return undefined;
    const user = await loadUser(sub);
    if (!user || user.disabled) return undefined;
    let roles: Promise<string[]> | undefined;
    const account: GatehouseAccount = {
      accountId: user.id,
      user,
      roles: () => (roles ??= loadRoles(user.id)),
      async claims(_use, scope) {
        const scopes = new Set(String(scope ?? '').split(' '));
        return {
          sub: user.id,
          email: user.email,
          email_verified: user.emailVerified,
          name: user.name ?? undefined,
          given_name: user.givenName ?? undefined,
          family_name: user.familyName ?? undefined,
          ...(scopes.has('roles') ? { roles: await account.roles() } : {}),
        };
      },
    };
    return account;
  };
}

/** Cached values are shared by every request of the node: nobody may alter them. */
function freeze<T>(value: T): T {
  return value === undefined ? value : Object.freeze(value);
}
