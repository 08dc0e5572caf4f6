import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory from 'knex';
import { hotQuery } from '../../../src/db/hot-query.js';
import { createDb, type Db } from '../../../src/db/knex.js';
import { migrateLatest } from '../../../src/db/migrate.js';
import { analyzeStaleTables } from '../../../src/db/statistics.js';
import { freshDatabase } from '../../support/database.js';
import { startTestGatehouse } from '../../support/gatehouse.js';

/**
 * A new database (and the embedded one, which autovacuum never analyzes) must not be planned on
 * guesses: without statistics PostgreSQL looked sessions and grants up by primary key through an
 * index that shares only the tenant, walking every row of the tenant for each lookup.
 */
describe('planner statistics of a new database', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;
  const tenantId = randomUUID();

  beforeAll(async () => {
    database = await freshDatabase('gh_stats');
    db = createDb({ databaseUrl: database.url, dataDir: database.dataDir ?? 'memory://' });
    await migrateLatest(db);
    // What this file checks is Gatehouse's own analysis: autovacuum must not do it first.
    for (const table of ['oidc_payloads', 'users', 'audit_events', 'tenants']) await db.raw('alter table ?? set (autovacuum_enabled = false)', [table]);
    await db('tenants').insert({ id: tenantId, slug: `stats-${randomBytes(3).toString('hex')}`, name: 'Stats' });
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  /** The plan of a lookup of one session by id (or by another column the provider looks rows up by). */
  async function indexOfLookup(column: 'id' | 'uid' | 'user_code' = 'id') {
    const plan = await db.raw(
      `explain select payload, consumed_at from oidc_payloads
        where tenant_id = ? and model = ? and ?? = ? and (expires_at is null or expires_at > ?) limit 1`,
      [tenantId, column === 'user_code' ? 'DeviceCode' : 'Session', column, 'some-value', new Date()],
    );
    return (plan.rows as { 'QUERY PLAN': string }[]).map((r) => r['QUERY PLAN']).join('\n');
  }

  /** The plan goes through the primary key, and through no other index beside it. */
  function expectPrimaryKey(plan: string) {
    expect(plan).toMatch(/Index Scan using oidc_payloads_pkey/);
    expect(plan).not.toMatch(/oidc_payloads_(?!pkey)\w+/);
  }

  async function grow(from: number, count = 1000) {
    const rows = Array.from({ length: count }, (_, i) => ({
      tenant_id: tenantId, model: ['Session', 'Grant', 'RefreshToken'][i % 3], id: `row-${from + i}`, payload: '{}',
      uid: `uid-${from + i}`, account_id: `account-${i % 16}`, grant_id: `grant-${(from + i) >> 2}`, expires_at: new Date(Date.now() + 3_600_000),
    }));
    await db.batchInsert('oidc_payloads', rows, 250);
  }

  it('analyzes the tables never analyzed (a restarted embedded database), and a lookup by id then takes the primary key', async () => {
    for (let i = 0; i < 3; i++) await grow(i * 1000);
    const analyzed = await analyzeStaleTables(db);
    expect(analyzed).toEqual(expect.arrayContaining(['oidc_payloads', 'users', 'audit_events', 'tenants']));
    expectPrimaryKey(await indexOfLookup());
    // Statistics now exist: the next start analyzes nothing.
    expect(await analyzeStaleTables(db)).toEqual([]);
  });

  it('analyzes a table again once it has outgrown its statistics', async () => {
    expect(await analyzeStaleTables(db)).toEqual([]);
    for (let i = 3; i < 9; i++) await grow(i * 1000);
    expect(await analyzeStaleTables(db)).toEqual(['oidc_payloads']);
    expect(await analyzeStaleTables(db)).toEqual([]);
  });

  it('analyzes a table again as soon as it has rows when it was empty at its last analysis, and again as it grows', async () => {
    // A new database: analyzed at its first start while every table is empty.
    await db.raw('truncate oidc_payloads');
    await db.raw('analyze oidc_payloads');
    expect(await analyzeStaleTables(db)).toEqual([]);
    const few = ['Session', 'Grant', 'RefreshToken'].map((model, i) => ({ tenant_id: tenantId, model, id: `first-${i}`, payload: '{}', uid: `first-uid-${i}`, account_id: 'account-0', grant_id: 'grant-0' }));
    await db('oidc_payloads').insert(few);
    // One page, far from GROWN_PAGES: only the empty analysis makes it stale.
    expect(await analyzeStaleTables(db)).toEqual(['oidc_payloads']);
    expect(await analyzeStaleTables(db)).toEqual([]);
    // Three rows, one of each kind, are not statistics a planner can use (each model looks unique).
    // Grown by 600 rows before the next round analyzes it again, the lookup by id still takes the
    // primary key (it took the whole index on user_code, which begins with tenant and model too):
    // the indexes on uid and user_code are partial (migration 012) and cannot serve it. Each still
    // serves the lookup by its own column.
    await grow(10_000, 600);
    expectPrimaryKey(await indexOfLookup());
    expect(await indexOfLookup('uid')).toContain('oidc_payloads_uid');
    expect(await indexOfLookup('user_code')).toContain('oidc_payloads_user_code');
    // The table is analyzed again once it has grown, and the lookup still takes the primary key.
    for (let i = 0; i < 3; i++) await grow(20_000 + i * 1000);
    expect(await analyzeStaleTables(db)).toEqual(['oidc_payloads']);
    expectPrimaryKey(await indexOfLookup());
  });

  it("keeps no plan of a hot statement past the analysis of a table that grew: the lookup takes the primary key again", async () => {
    // The statements of db/hot-query.ts are prepared, and PostgreSQL keeps a generic plan of one
    // after its fifth call (plan_cache_mode auto). Made on a new database's nearly empty table,
    // that plan must not stay as the table grows: each analysis invalidates it.
    const one = database.url ? knexFactory({ client: 'pg', connection: database.url, pool: { min: 1, max: 1 } }) : db;
    const lookup = 'select payload, consumed_at from oidc_payloads where tenant_id = ? and model = ? and id = ? and (expires_at is null or expires_at > ?) limit 1';
    const planOfPrepared = async () => {
      let n = 0;
      const { rows } = await one.raw('select name, generic_plans::int as generic from pg_prepared_statements where statement = ?', [lookup.replace(/\?/g, () => `$${++n}`)]);
      const [{ name, generic }] = rows as { name: string; generic: number }[];
      // EXECUTE takes no parameters of its own: the values as literals (tenantId is a UUID).
      const plan = await one.raw(`explain execute "${name}"('${tenantId}', 'Session', 'no-such-id', now())`);
      return { generic, plan: (plan.rows as { 'QUERY PLAN': string }[]).map((r) => r['QUERY PLAN']).join('\n') };
    };
    try {
      await db.raw('truncate oidc_payloads');
      await db.raw('analyze oidc_payloads');
      await grow(30_000, 3);
      expect(await analyzeStaleTables(db)).toEqual(['oidc_payloads']);
      for (let i = 0; i < 8; i++) await hotQuery(one, lookup, [tenantId, 'Session', `row-${30_000 + (i % 3)}`, new Date()]);
      const kept = await planOfPrepared();
      expect(kept.generic).toBeGreaterThan(0); // kept, as PostgreSQL does
      expect(kept.plan).toMatch(/Seq Scan on oidc_payloads/); // what a three-row table is best read by
      for (let i = 0; i < 6; i++) await grow(31_000 + i * 1000);
      expect(await analyzeStaleTables(db)).toEqual(['oidc_payloads']);
      for (let i = 0; i < 8; i++) await hotQuery(one, lookup, [tenantId, 'Session', `row-${31_000 + i * 3}`, new Date()]);
      expectPrimaryKey((await planOfPrepared()).plan);
    } finally {
      if (one !== db) await one.destroy();
    }
  });

  it('plans hot statements as PostgreSQL does by default, whatever the database says', async () => {
    // A database (or role) default of force_generic_plan would keep a plan made on an empty table
    // through any analysis; force_custom_plan would plan every call anew (db/knex.ts).
    const name = database.url && new URL(database.url).pathname.slice(1);
    if (name) await db.raw('alter database ?? set plan_cache_mode = force_generic_plan', [name]);
    const other = database.url ? createDb({ databaseUrl: database.url, dataDir: 'memory://' }) : db;
    try {
      await hotQuery(other, 'select 1 as one where ? = 1', [1]);
      const { rows } = await other.raw('show plan_cache_mode');
      expect(rows).toEqual([{ plan_cache_mode: 'auto' }]);
    } finally {
      if (other !== db) await other.destroy();
      if (name) await db.raw('alter database ?? reset plan_cache_mode', [name]);
    }
  });

  // Only a server has a second session to hold the lock (PGlite runs in this process).
  (process.env.DATABASE_URL ? it : it.skip)('gives up within about a second when a migration holds a table locked, instead of holding a start up', async () => {
    await db.raw('create table stats_locked (id int)');
    const other = knexFactory({ client: 'pg', connection: database.url, pool: { min: 0, max: 1 } });
    try {
      await other.transaction(async (trx) => {
        await trx.raw('lock table stats_locked in access exclusive mode');
        const started = Date.now();
        expect(await analyzeStaleTables(db)).not.toContain('stats_locked'); // left to the next round
        expect(Date.now() - started).toBeLessThan(10_000);
      });
      expect(await analyzeStaleTables(db)).toEqual(['stats_locked']);
    } finally {
      await other.destroy();
    }
  });

  it('is run at every start, before the server takes requests', async () => {
    const gh = await startTestGatehouse();
    try {
      const { rows } = await gh.deps.db.raw(`select count(*)::int as n from pg_class where relkind = 'r' and relnamespace = (select oid from pg_namespace where nspname = current_schema()) and reltuples < 0`);
      expect(rows[0].n).toBe(0);
    } finally {
      await gh.stop();
    }
  });
});
