import type Provider from 'oidc-provider';
import type { Deps } from '../deps.js';
import { loadSigningJwks } from '../domain/keys/keys.service.js';
import { findTenantBySlug } from '../domain/tenants/tenants.queries.js';
import { TENANT_SLUG, type Tenant } from '../domain/tenants/tenants.types.js';
import { createProvider } from '../provider/create-provider.js';

export interface TenantEntry {
  tenant: Tenant;
  provider: Provider;
  handle: ReturnType<Provider['callback']>;
}

/**
 * slug → tenant and its provider, built on first use. Each request reads the tenant row (one
 * primary-key lookup); a changed `updated_at` (settings edited, key rotated — on any node, or by
 * the CLI) rebuilds the provider, so every node sees a change on its next request.
 */
export class TenantRegistry {
  #entries = new Map<string, TenantEntry>();
  #building = new Map<string, Promise<TenantEntry>>();

  constructor(private readonly deps: Deps, private readonly maxEntries = 1000) {}

  async resolve(slug: string): Promise<TenantEntry | undefined> {
    if (!TENANT_SLUG.test(slug)) return undefined;
    const tenant = await findTenantBySlug(this.deps.db, slug);
    if (!tenant) {
      this.#entries.delete(slug);
      return undefined;
    }
    const cached = this.#entries.get(slug);
    if (cached && cached.tenant.id === tenant.id && cached.tenant.updatedAt.getTime() === tenant.updatedAt.getTime()) {
      // Refresh recency for LRU eviction.
      this.#entries.delete(slug);
      this.#entries.set(slug, cached);
      return cached;
    }
    const key = `${tenant.id}@${tenant.updatedAt.getTime()}`;
    let building = this.#building.get(key);
    if (!building) {
      building = this.#build(tenant).finally(() => this.#building.delete(key));
      this.#building.set(key, building);
    }
    return building;
  }

  async #build(tenant: Tenant): Promise<TenantEntry> {
    const jwks = await loadSigningJwks(this.deps, tenant.id);
    const provider = createProvider(tenant, jwks, this.deps);
    const entry = { tenant, provider, handle: provider.callback() };
    this.#entries.delete(tenant.slug);
    this.#entries.set(tenant.slug, entry);
    while (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    return entry;
  }

  /** The provider of a tenant, for admin-side uses like client metadata validation. */
  async providerFor(tenant: Tenant) {
    return (await this.resolve(tenant.slug))?.provider;
  }
}
