import { randomBytes, randomUUID } from 'node:crypto';
import { createDb, type Db } from '../../../src/db/knex.js';
import { migrateLatest } from '../../../src/db/migrate.js';
import * as m012 from '../../../migrations/20261202_012_partial_payload_indexes.js';
import { freshDatabase } from '../../support/database.js';

/**
 * Migration 012 replaces the whole indexes on oidc_payloads' nullable columns with partial ones:
 * each query on those columns must keep its index, and the migration must keep every row and be
 * safe to run again.
 */
describe('migration 012: partial indexes on oidc_payloads', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;
  const tenantId = randomUUID();

  beforeAll(async () => {
    database = await freshDatabase('gh_m012');
    db = createDb({ databaseUrl: database.url, dataDir: database.dataDir ?? 'memory://' });
    await migrateLatest(db);
    await db('tenants').insert({ id: tenantId, slug: `m012-${randomBytes(3).toString('hex')}`, name: 'M012' });
    await db('oidc_payloads').insert(['Session', 'Grant', 'DeviceCode'].map((model, i) => ({
      tenant_id: tenantId, model, id: `row-${i}`, payload: '{}', uid: model === 'Session' ? 'uid-0' : null, user_code: model === 'DeviceCode' ? 'ABCD-EFGH' : null,
    })));
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  /** oidc_payloads' indexes on the columns this migration is about: name → partial predicate, validity. */
  async function indexes() {
    const { rows } = await db.raw<{ rows: { name: string; def: string; valid: boolean }[] }>(
      `select c.relname as name, pg_get_indexdef(i.indexrelid) as def, i.indisvalid as valid
         from pg_index i join pg_class c on c.oid = i.indexrelid
        where i.indrelid = 'oidc_payloads'::regclass and c.relname ~ '(uid|user_code|grant_id|account_id)'
        order by c.relname`,
    );
    return Object.fromEntries(rows.map((r) => [r.name, { where: /WHERE (.*)$/.exec(r.def)?.[1] ?? null, valid: r.valid }]));
  }
  const PARTIAL = {
    oidc_payloads_account_id: { where: '(account_id IS NOT NULL)', valid: true },
    oidc_payloads_grant_id: { where: '(grant_id IS NOT NULL)', valid: true },
    oidc_payloads_uid: { where: '(uid IS NOT NULL)', valid: true },
    oidc_payloads_user_code: { where: '(user_code IS NOT NULL)', valid: true },
  };
  /** The index a query's plan takes when a sequential scan is ruled out (the table is tiny here). */
  async function indexFor(sql: string, bindings: unknown[]) {
    return db.transaction(async (trx) => {
      await trx.raw('set local enable_seqscan = off');
      const plan = await trx.raw(`explain ${sql}`, bindings as never[]);
      const text = (plan.rows as { 'QUERY PLAN': string }[]).map((r) => r['QUERY PLAN']).join('\n');
      // "Index Scan using x", "Index Only Scan using x", "Bitmap Index Scan on x": every index it names.
      return [...text.matchAll(/Index (?:Only )?Scan (?:using|on) (\w+)/g)].map((m) => m[1]).join(', ');
    });
  }
  const rowCount = async () => Number((await db('oidc_payloads').count({ n: '*' }))[0].n);

  it('leaves a migrated database with the partial indexes only, and finds rows by uid and user_code', async () => {
    expect(await indexes()).toEqual(PARTIAL);
    expect(await db('oidc_payloads').where({ tenant_id: tenantId, model: 'Session', uid: 'uid-0' }).first('id')).toEqual({ id: 'row-0' });
    expect(await db('oidc_payloads').where({ tenant_id: tenantId, model: 'DeviceCode', user_code: 'ABCD-EFGH' }).first('id')).toEqual({ id: 'row-2' });
  });

  it('still serves each query on these columns from its index (equality and `in` imply `is not null`)', async () => {
    // The shapes of src/provider/adapters/postgres.ts, src/domain/sessions and src/domain/users.
    const of = 'from oidc_payloads where tenant_id = ?';
    expect(await indexFor(`select id ${of} and model = ? and uid = ?`, [tenantId, 'Session', 'uid-0'])).toBe('oidc_payloads_uid');
    expect(await indexFor(`select id ${of} and model = ? and user_code = ?`, [tenantId, 'DeviceCode', 'x'])).toBe('oidc_payloads_user_code');
    expect(await indexFor(`delete ${of} and model = ? and grant_id = ?`, [tenantId, 'AccessToken', 'g'])).toBe('oidc_payloads_grant_id');
    expect(await indexFor(`select id ${of} and grant_id in (?, ?)`, [tenantId, 'g1', 'g2'])).toBe('oidc_payloads_grant_id');
    expect(await indexFor(`select id ${of} and account_id = ?`, [tenantId, 'a'])).toBe('oidc_payloads_account_id');
    expect(await indexFor(`select id ${of} and model = ? and account_id = ? and uid in (?, ?)`, [tenantId, 'Session', 'a', 'u1', 'u2'])).toMatch(/oidc_payloads_(uid|account_id)/);
  });

  it('goes down to the whole indexes and up again, keeping every row; a second run changes nothing', async () => {
    await m012.down(db);
    expect(await indexes()).toEqual({
      oidc_payloads_tenant_id_account_id_index: { where: null, valid: true },
      oidc_payloads_tenant_id_grant_id_index: { where: null, valid: true },
      oidc_payloads_tenant_id_model_uid_index: { where: null, valid: true },
      oidc_payloads_tenant_id_model_user_code_index: { where: null, valid: true },
    });
    await m012.up(db);
    expect(await indexes()).toEqual(PARTIAL);
    await m012.up(db);
    expect(await indexes()).toEqual(PARTIAL);
    expect(await rowCount()).toBe(3);
  });
});
