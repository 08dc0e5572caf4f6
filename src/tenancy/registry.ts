import type Provider from 'oidc-provider';
import type { Deps } from '../deps.js';
import type { Change } from '../domain/changes.js';
import { loadSigningJwks } from '../domain/keys/keys.service.js';
import { findTenantBySlug } from '../domain/tenants/tenants.queries.js';
import { TENANT_SLUG, type Tenant } from '../domain/tenants/tenants.types.js';
import { createProvider } from '../provider/create-provider.js';
import { TenantCache } from '../provider/tenant-cache.js';
import { ChangeFeed } from './change-feed.js';

export interface TenantEntry {
  tenant: Tenant;
  provider: Provider;
  handle: ReturnType<Provider['callback']>;
  cache: TenantCache;
}

/** Providers a node keeps built; past it the least recently used tenant is rebuilt on its next request. */
export const DEFAULT_TENANT_CACHE_SIZE = 1000;

/**
 * slug → tenant, its provider (signing keys included) and its cache of clients and grants.
 *
 * Following the change feed (a server), an entry is kept until a change to its tenant is
 * announced on any node or by the CLI (Postgres NOTIFY, delivered on commit), so a request costs
 * no tenant query. Without a live feed (the CLI, or while the LISTEN connection is down) each
 * request reads the tenant row and rebuilds the provider when `updated_at` moved, and nothing
 * else is cached.
 */
export class TenantRegistry {
  #entries = new Map<string, TenantEntry>();
  #building = new Map<string, Promise<TenantEntry>>();
  /** Bumped by every drop, so an entry read before a change is not kept after it. */
  #generation = 0;
  #feed?: ChangeFeed;

  /** `maxEntries`: tenants kept built, least recently used dropped first (scale bench: ~0.1 MB each). */
  constructor(private readonly deps: Deps, private readonly maxEntries = DEFAULT_TENANT_CACHE_SIZE) {}

  /** Tenants kept built now (scale bench, diagnostics). */
  get size() {
    return this.#entries.size;
  }

  /** Starts trusting the change feed (startGatehouse). */
  async followChanges() {
    this.#feed = await ChangeFeed.follow(this.deps.db);
    this.#feed.on('change', (change: Change) => this.#dropTenant(change));
    this.#feed.on('live', () => this.#dropAll());
    // Entries built before the feed was followed were never checked against it.
    this.#dropAll();
  }

  get changes() {
    return this.#feed;
  }

  #live = () => this.#feed?.live === true;

  /**
   * The entry of a tenant kept built, while the change feed vouches for it: what resolve() answers
   * without asking the database, without its promise (tenancy/direct.ts). Otherwise undefined.
   */
  built(slug: string): TenantEntry | undefined {
    const cached = this.#entries.get(slug);
    return cached && this.#live() ? this.#touch(slug, cached) : undefined;
  }

  async resolve(slug: string): Promise<TenantEntry | undefined> {
    if (!TENANT_SLUG.test(slug)) return undefined;
    const built = this.built(slug);
    if (built) return built;
    const cached = this.#entries.get(slug);
    const generation = this.#generation;
    const tenant = await findTenantBySlug(this.deps.db, slug);
    if (!tenant) {
      this.#entries.delete(slug);
      return undefined;
    }
    if (cached && cached.tenant.id === tenant.id && cached.tenant.updatedAt.getTime() === tenant.updatedAt.getTime()) return this.#touch(slug, cached);
    const key = `${tenant.id}@${tenant.updatedAt.getTime()}@${generation}`;
    let building = this.#building.get(key);
    if (!building) {
      building = this.#build(tenant, generation).finally(() => this.#building.delete(key));
      this.#building.set(key, building);
    }
    return building;
  }

  #touch(slug: string, entry: TenantEntry) {
    // Refresh recency for LRU eviction (the map's order), unless it is the newest already: a
    // tenant's requests mostly follow each other.
    if (this.#newest === slug) return entry;
    this.#entries.delete(slug);
    this.#entries.set(slug, entry);
    this.#newest = slug;
    return entry;
  }

  /** The slug last put at the end of #entries: while it is in the map it is the last key (only #touch and #build insert). */
  #newest?: string;

  async #build(tenant: Tenant, generation: number): Promise<TenantEntry> {
    const jwks = await loadSigningJwks(this.deps, tenant.id);
    const cache = new TenantCache(this.#live);
    const provider = createProvider(tenant, jwks, this.deps, cache);
    const entry = { tenant, provider, handle: provider.callback(), cache };
    // Read before a drop: serve this request with it, but do not keep it.
    if (generation !== this.#generation) {
      entry.cache.drop();
      return entry;
    }
    this.#entries.delete(tenant.slug);
    this.#entries.set(tenant.slug, entry);
    this.#newest = tenant.slug;
    while (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    return entry;
  }

  #dropTenant(change: Change) {
    this.#generation++;
    for (const [slug, entry] of this.#entries) {
      if (entry.tenant.id !== change.tenantId) continue;
      entry.cache.drop(change.area);
      // Settings and keys are built into the provider; clients and grants only into the cache.
      if (change.area === 'tenant' || change.area === 'keys') this.#entries.delete(slug);
    }
  }

  #dropAll() {
    this.#generation++;
    for (const entry of this.#entries.values()) entry.cache.drop();
    this.#entries.clear();
  }

  /** The provider of a tenant, for admin-side uses like client metadata validation. */
  async providerFor(tenant: Tenant) {
    return (await this.resolve(tenant.slug))?.provider;
  }

  async close() {
    await this.#feed?.close();
  }
}
