import { tryAdvisoryXactLock } from './advisory-lock.js';
import type { Db } from './knex.js';

/**
 * Planner statistics for tables that have none, or have outgrown theirs.
 *
 * A table planned without statistics is planned on guesses, and for oidc_payloads the guess is
 * wrong: a lookup by primary key (tenant, model, id) goes through another index that shares only
 * the tenant (or the tenant and model), and walks every session or grant of the tenant to find
 * one. Each login then costs more than the one before. On PostgreSQL that lasts until autovacuum
 * first analyzes the table (a minute or more into a new database's life); the embedded database
 * (PGlite) runs no autovacuum, so there it never ended. Analyzed while it holds a few rows of
 * each kind, the table gets the primary key from then on, whatever it grows to.
 *
 * A table is analyzed when it never was, or when it has grown past twice its size at its last
 * analysis (and by more than GROWN_PAGES pages): at start, then every STATISTICS_INTERVAL_MS, by
 * one node at a time (an advisory lock; the others skip that round). The check itself is one
 * catalog query; on a server where autovacuum keeps up it finds nothing to do. Tables of another
 * role (a server that does not migrate itself may run as one) are left to autovacuum.
 */
export const STATISTICS_INTERVAL_MS = 30_000;
const GROWN_PAGES = 8;

export async function analyzeStaleTables(db: Db): Promise<string[]> {
  return db.transaction(async (trx) => {
    if (!(await tryAdvisoryXactLock(trx, 'statistics', 'analyze'))) return [];
    const { rows } = await trx.raw<{ rows: { name: string }[] }>(
      `select c.relname as name from pg_class c
        where c.relkind = 'r' and c.relnamespace = current_schema()::regnamespace and pg_has_role(c.relowner, 'USAGE')
          and (c.reltuples < 0 or pg_relation_size(c.oid) / current_setting('block_size')::int > 2 * c.relpages + ?)
        order by c.relname`,
      [GROWN_PAGES],
    );
    for (const { name } of rows) await trx.raw('analyze ??', [name]);
    return rows.map((r) => r.name);
  });
}
