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
 * each kind, the table gets the primary key from then on, whatever it grows to. (The index it took
 * most, the whole one on user_code, is partial since migration 012 and can no longer serve such a
 * lookup; the rule below keeps the other plans from guesses.)
 *
 * A table is analyzed when it never was, when it was empty at its last analysis and has rows now,
 * or when it has grown past twice its size at its last analysis (and by more than GROWN_PAGES
 * pages): at start, then every STATISTICS_INTERVAL_MS, each table by one node at a time (an
 * advisory lock; the others skip it). Statistics of an empty table are no better than none: a new
 * database is analyzed at its first start, empty, and its first logins then walked every session
 * of the tenant for each lookup until the table had grown past GROWN_PAGES and the next round came
 * (at 30 s, a few thousand sessions on one node: each lookup costing about 2 ms instead of 0.05).
 * The check itself is one catalog query in a short transaction; on a server where autovacuum
 * keeps up it finds nothing to do. Tables of another role (a server that does not migrate itself
 * may run as one) are left to autovacuum.
 */
export const STATISTICS_INTERVAL_MS = 5_000;
const GROWN_PAGES = 8;
/**
 * How long a check or an analysis waits for a table lock (a migration, other DDL) before it gives
 * up until the next round: never long enough to hold a start up or to queue traffic behind it.
 */
const LOCK_TIMEOUT = '1s';

export async function analyzeStaleTables(db: Db): Promise<string[]> {
  const stale = await db.transaction(async (trx) => {
    await trx.raw(`set local lock_timeout = '${LOCK_TIMEOUT}'`);
    const { rows } = await trx.raw<{ rows: { name: string }[] }>(
      `select c.relname as name from pg_class c
        where c.relkind = 'r' and c.relnamespace = (select oid from pg_namespace where nspname = current_schema())
          and pg_has_role(c.relowner, 'USAGE')
          and (c.reltuples < 0
            or (c.reltuples = 0 and pg_relation_size(c.oid) / current_setting('block_size')::int > c.relpages)
            or pg_relation_size(c.oid) / current_setting('block_size')::int > 2 * c.relpages + ?)
        order by c.relname`,
      [GROWN_PAGES],
    );
    return rows.map((r) => r.name);
  });
  const analyzed: string[] = [];
  // One short transaction per table, so no table stays locked while another is analyzed; a table
  // another node is analyzing (its advisory lock) is left to it.
  for (const name of stale) {
    const done = await db.transaction(async (trx) => {
      if (!(await tryAdvisoryXactLock(trx, 'statistics', name))) return false;
      await trx.raw(`set local lock_timeout = '${LOCK_TIMEOUT}'`);
      // A large table on slow storage may take longer than a serving node's statement deadline
      // (db/knex.ts): cut there, it would be tried again, and cut again, every round.
      await trx.raw('analyze ??', [name]).options({ deadline: false });
      return true;
    }).catch((err: { code?: string }) => {
      if (err?.code === '55P03') return false; // locked by a migration or other DDL: next round
      throw err;
    });
    if (done) analyzed.push(name);
  }
  return analyzed;
}
