import type { Knex } from 'knex';
import { migrations } from '../../migrations/index.js';
import type { Db } from './knex.js';

/** Migrations are compiled in (not read from disk by name) so they run the same under tsx, jest and a build. */
class ListedMigrations implements Knex.MigrationSource<string> {
  async getMigrations() {
    return Object.keys(migrations).sort();
  }
  getMigrationName(name: string) {
    return name;
  }
  async getMigration(name: string) {
    return migrations[name];
  }
}

/**
 * Runs the migrations not yet applied. knex's own lock is a row of a table it creates first,
 * without a lock: two nodes starting together on a new database both create it, and one failed to
 * start ("duplicate key value violates unique constraint pg_type_typname_nsp_index"). A
 * transaction-scoped advisory lock, on a connection of its own, makes the second wait for the
 * first's whole run; it then finds nothing to do. (PGlite belongs to one process: no second node.)
 */
export async function migrateLatest(db: Db): Promise<string[]> {
  const latest = async () => (await db.migrate.latest({ migrationSource: new ListedMigrations() }))[1] as string[];
  if (db.client.config.client !== 'pg') return latest();
  return db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', ['gatehouse/migrate']);
    return latest();
  });
}

/** Migrations this build knows that the database has not run (for a server that does not migrate itself). */
export async function pendingMigrations(db: Db) {
  const [, pending] = await db.migrate.list({ migrationSource: new ListedMigrations() });
  return (pending as unknown[]).map(String);
}
