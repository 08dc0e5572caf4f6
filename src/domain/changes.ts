import type { Db, Trx } from '../db/knex.js';

/** What changed in a tenant, so nodes that cache it drop their copy (tenancy/registry.ts). */
export type ChangeArea = 'tenant' | 'clients' | 'keys' | 'rbac';

/**
 * Announces a change inside the transaction that makes it. Services call this for every write
 * that a cache on any node could hold; the listening side lives in tenancy/.
 */
export async function announceChange(_db: Db | Trx, _tenantId: string, _area: ChangeArea): Promise<void> {
  // Wired by the caching work (issue 2); until then nothing is cached, so there is nothing to drop.
}
