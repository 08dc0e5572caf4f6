import type { ChangeArea } from '../domain/changes.js';
import type { User } from '../domain/users/users.types.js';
import type { ConnectionDirectory } from '../federation/connections.js';

/**
 * What one node keeps of a tenant between requests: oidc-provider's Client objects, what a
 * client's or a user's roles grant on a resource, user records (never their password hashes), a
 * user's role names and the tenant's federation connections as the login page lists them.
 * Only tenancy/registry.ts drops it, when the change feed says the tenant changed (on any node) or
 * when the feed itself was interrupted. While the feed is not live nothing is kept, and every
 * lookup goes to the database as before.
 */
export class TenantCache {
  #generation = 0;
  readonly #maps = new Set<Map<string, unknown>>();
  /** oidc-provider's Client objects, built from the client rows (create-provider.ts). */
  readonly clientModels = this.#map<object>();
  readonly grants = this.#map<string[]>();
  /** What depends on a user's row or role assignments: dropped by 'users' as well as by the rest. */
  readonly users = this.#map<Readonly<User>>();
  readonly userRoles = this.#map<readonly string[]>();
  readonly userGrants = this.#map<readonly string[]>();
  /** The tenant's SAML and OIDC connections for the login page (federation/connections.ts); every change to one announces 'tenant'. */
  readonly connections = this.#map<ConnectionDirectory>();
  readonly #perUser = new Set<Map<string, unknown>>([this.users, this.userRoles, this.userGrants] as Map<string, unknown>[]);

  /** Max entries per map; past it the map starts over (a crude bound, no LRU bookkeeping per hit). */
  constructor(private readonly live: () => boolean, private readonly maxEntries = 10_000) {}

  #map<T>() {
    const map = new Map<string, T>();
    this.#maps.add(map as Map<string, unknown>);
    return map;
  }

  /** The cached value, if any, at once (no promise: what a hot path checks before `remember`). */
  peek<T>(map: Map<string, T>, key: string): T | undefined {
    return this.live() ? map.get(key) : undefined;
  }

  /**
   * The cached value, or `load()`'s. A value is kept only if nothing was dropped while it was
   * being read: a change committed mid-read would otherwise be cached as stale forever.
   */
  async remember<T>(map: Map<string, T>, key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    if (!this.live()) return load();
    const hit = map.get(key);
    if (hit !== undefined) return hit;
    const generation = this.#generation;
    const value = await load();
    // Absences are not kept: a new client or resource holds at once without any announcement.
    if (value !== undefined && generation === this.#generation && this.live()) {
      if (map.size >= this.maxEntries) map.clear();
      map.set(key, value);
    }
    return value;
  }

  /**
   * Forgets what `area` may have changed; everything when no area is given. A user's account,
   * roles and grants depend on users, groups, roles and resources ('users', 'rbac'), so every
   * area drops them; a change to users leaves clients and client grants alone.
   */
  drop(area?: ChangeArea) {
    this.#generation++;
    for (const map of area === 'users' ? this.#perUser : this.#maps) map.clear();
  }
}
