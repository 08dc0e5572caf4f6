import { checkDatabase, DatabaseUnreachableError, MINIMUM_SERVER_VERSION_NUM } from '../../../src/db/connect.js';
import { createDb, type Db } from '../../../src/db/knex.js';
import { freshDatabase } from '../../support/database.js';

/**
 * The oldest server Gatehouse runs on is checked at start, before a migration touches the
 * database: an older one stops the start with one line, not with a failure deep in a migration or
 * with statistics that are silently never refreshed (13 reports a never-analyzed table as empty).
 * No server older than the minimum is at hand here, so the real server is checked against a
 * minimum one major version above its own.
 */
describe('the PostgreSQL version at start', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;
  let actual: number;

  beforeAll(async () => {
    database = await freshDatabase('gh_version');
    db = createDb({ databaseUrl: database.url, dataDir: database.dataDir ?? 'memory://' });
    const { rows } = await db.raw(`select current_setting('server_version_num')::int as num`);
    actual = rows[0].num;
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  it('the server here (or PGlite) is new enough, and passes', async () => {
    expect(actual).toBeGreaterThanOrEqual(MINIMUM_SERVER_VERSION_NUM);
    await expect(checkDatabase(db)).resolves.toBeUndefined();
  });

  it('a server older than the minimum is refused with one line naming both versions', async () => {
    const nextMajor = (Math.floor(actual / 10000) + 1) * 10000;
    const err = await checkDatabase(db, nextMajor).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseUnreachableError);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toContain(`Gatehouse needs PostgreSQL ${nextMajor / 10000} or later`);
    expect(message).toMatch(/runs PostgreSQL \d+(\.\d+)?(devel|beta\d*|rc\d*)?;/);
    expect(message).toMatch(database.url ? /^DATABASE_URL: the server at 127\.0\.0\.1:\d+ runs/ : /^the embedded database \(PGlite\) runs/);
    // The database was not touched: nothing was migrated.
    const { rows } = await db.raw(`select count(*)::int as n from pg_tables where tablename = 'knex_migrations'`);
    expect(rows[0].n).toBe(0);
  });
});
