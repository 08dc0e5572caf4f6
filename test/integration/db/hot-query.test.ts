import { hotQuery } from '../../../src/db/hot-query.js';
import { createDb, type Db } from '../../../src/db/knex.js';
import { freshDatabase } from '../../support/database.js';

/**
 * hotQuery (src/db/hot-query.ts) sends a statement past knex's runner on PostgreSQL, on a
 * connection of knex's own pool; on PGlite and inside a transaction it is db.raw. Either way the
 * caller sees the same rows, errors and query events.
 */
describe('hotQuery', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;

  beforeAll(async () => {
    database = await freshDatabase('gh_hotq');
    db = createDb({ databaseUrl: database.url, dataDir: database.dataDir ?? 'memory://' });
    await db.raw('create table hot (id int primary key, name text, at timestamptz)');
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  it('binds ? placeholders in order and returns the rows', async () => {
    const at = new Date('2026-01-02T03:04:05Z');
    await hotQuery(db, 'insert into hot (id, name, at) values (?, ?, ?)', [1, 'one', at]);
    const { rows } = await hotQuery<{ id: number; name: string; at: Date }>(db, 'select id, name, at from hot where id = ? and name = ?', [1, 'one']);
    expect(rows).toHaveLength(1);
    expect(rows[0].name).toBe('one');
    expect(new Date(rows[0].at).toISOString()).toBe(at.toISOString());
  });

  it('passes the database error on, with its SQLSTATE, and gives the connection back', async () => {
    // More failures than the pool has connections: a connection kept after an error would
    // exhaust the pool and the last query would time out.
    for (let i = 0; i < 12; i++) {
      await expect(hotQuery(db, 'insert into hot (id, name) values (?, ?)', [1, 'again'])).rejects.toMatchObject({ code: '23505' });
    }
    const { rows } = await hotQuery(db, 'select count(*)::int as n from hot', []);
    expect(rows[0].n).toBe(1);
  });

  it('emits knex query events, so counters see the statement', async () => {
    const seen: string[] = [];
    const responses: unknown[] = [];
    const onQuery = (q: { sql: string }) => seen.push(q.sql);
    const onResponse = (r: unknown) => responses.push(r);
    db.on('query', onQuery);
    db.on('query-response', onResponse);
    try {
      await hotQuery(db, 'select name from hot where id = ?', [1]);
    } finally {
      db.off('query', onQuery);
      db.off('query-response', onResponse);
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^select name from hot where id = (\$1|\?)$/);
    expect(responses).toHaveLength(1);
  });

  it('runs inside a transaction on that transaction', async () => {
    await db.transaction(async (trx) => {
      await hotQuery(trx, 'insert into hot (id, name) values (?, ?)', [2, 'two']);
      // Seen inside the transaction, not outside it until the commit.
      expect((await hotQuery(trx, 'select id from hot where id = ?', [2])).rows).toHaveLength(1);
      if (database.url) expect((await hotQuery(db, 'select id from hot where id = ?', [2])).rows).toHaveLength(0);
      throw new Error('roll back');
    }).catch((err: Error) => expect(err.message).toBe('roll back'));
    expect((await hotQuery(db, 'select id from hot where id = ?', [2])).rows).toHaveLength(0);
  });
});
