import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import { migrations } from '../../migrations/index.js';
import { log } from '../log/logger.js';
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

/** The advisory lock's name (hashed by PostgreSQL): tests hold it to stand for another node. */
export const MIGRATION_LOCK = 'gatehouse/migrate';
/** Once a second while another node holds the migrations' lock. */
const LOCK_POLL_MS = 1_000;

/**
 * Runs the migrations not yet applied. knex's own lock is a row of a table it creates first,
 * without a lock: two nodes starting together on a new database both create it, and one failed to
 * start ("duplicate key value violates unique constraint pg_type_typname_nsp_index"). An advisory
 * lock held by a transaction of its own (another pool connection runs the migrations) makes the
 * second node wait for the first's whole run; it then finds nothing to do. The wait is a poll, so
 * no statement of the waiting node stays open meanwhile (one would hold up any index built
 * concurrently), and it says once that it waits. The lock's session turns off the server's or
 * role's timeouts, which would otherwise end it mid-run and fail a start whose migrations went
 * through. PGlite belongs to one process: no second node.
 */
export async function migrateLatest(db: Db): Promise<string[]> {
  const latest = async () => (await db.migrate.latest({ migrationSource: new ListedMigrations() }))[1] as string[];
  if (db.client.config.client !== 'pg') return latest();
  return db.transaction(async (trx) => {
    for (const setting of ['idle_in_transaction_session_timeout', 'statement_timeout', 'lock_timeout']) await trx.raw(`set local ${setting} = 0`);
    let told = false;
    while (!(await trx.raw('select pg_try_advisory_xact_lock(hashtext(?)) as locked', [MIGRATION_LOCK])).rows[0]?.locked) {
      if (!told) log().info('db.migrate_waiting', { detail: 'another node is running the migrations' });
      told = true;
      await sleep(LOCK_POLL_MS);
    }
    return latest();
  });
}

/** Migrations this build knows that the database has not run (for a server that does not migrate itself). */
export async function pendingMigrations(db: Db) {
  const [, pending] = await db.migrate.list({ migrationSource: new ListedMigrations() });
  return (pending as unknown[]).map(String);
}
