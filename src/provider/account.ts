import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { Deps } from '../deps.js';
import { findUserRoleNames } from '../domain/rbac/rbac.queries.js';
import { findUserById } from '../domain/users/users.queries.js';
import type { User } from '../domain/users/users.types.js';

export interface GatehouseAccount extends Account {
  user: User;
  roles(): Promise<string[]>;
}

/** A disabled or deleted user has no account: their refreshes and userinfo calls fail. */
export function findAccount(tenantId: string, deps: Pick<Deps, 'db'>) {
  return async (_ctx: KoaContextWithOIDC, sub: string): Promise<GatehouseAccount | undefined> => {
    if (!/^[0-9a-f-]{36}$/i.test(sub)) return undefined;
    const user = await findUserById(deps.db, tenantId, sub);
    if (!user || user.disabled) return undefined;
    let roles: Promise<string[]> | undefined;
    const account: GatehouseAccount = {
      accountId: user.id,
      user,
      roles: () => (roles ??= findUserRoleNames(deps.db, tenantId, user.id)),
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
