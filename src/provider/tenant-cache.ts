/**
 * What one node keeps of a tenant between requests: client rows and what a client's roles grant
 * on a resource. Only tenancy/registry.ts drops it, when the change feed says the tenant changed
 * (on any node) or when the feed itself was interrupted. While the feed is not live nothing is
 * kept, and every lookup goes to the database as before.
 */
export class TenantCache {
  #generation = 0;
  readonly #maps = new Set<Map<string, unknown>>();
  readonly clients = this.#map<string>();
  readonly grants = this.#map<string[]>();

  /** Max entries per map; past it the map starts over (a crude bound, no LRU bookkeeping per hit). */
  constructor(private readonly live: () => boolean, private readonly maxEntries = 10_000) {}

  #map<T>() {
    const map = new Map<string, T>();
    this.#maps.add(map as Map<string, unknown>);
    return map;
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

  drop() {
    this.#generation++;
    for (const map of this.#maps) map.clear();
  }
}
