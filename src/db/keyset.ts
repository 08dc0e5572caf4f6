import type { Db } from './knex.js';

/**
 * One page of a tenant's rows in `column` order, after the key of the previous page's last row
 * (keyset pagination: rows inserted meanwhile never shift or repeat a page). `column` is unique
 * per tenant in every table this serves.
 */
export function findTenantRowsPage(db: Db, table: string, tenantId: string, column: string, options: { after?: string; limit: number }) {
  return db(table)
    .where({ tenant_id: tenantId })
    .modify((q) => { if (options.after !== undefined) q.where(column, '>', options.after); })
    .orderBy(column)
    .limit(options.limit);
}
