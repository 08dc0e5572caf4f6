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

export async function migrateLatest(db: Db) {
  const [, applied] = await db.migrate.latest({ migrationSource: new ListedMigrations() });
  return applied as string[];
}

/** Migrations this build knows that the database has not run (for a server that does not migrate itself). */
export async function pendingMigrations(db: Db) {
  const [, pending] = await db.migrate.list({ migrationSource: new ListedMigrations() });
  return (pending as unknown[]).map(String);
}
