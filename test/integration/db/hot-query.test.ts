import knexFactory from 'knex';
import { hotQuery } from '../../../src/db/hot-query.js';
import { createDb, type Db } from '../../../src/db/knex.js';
import { listen } from '../../../src/db/listen.js';
import { isDbUnavailable } from '../../../src/db/unavailable.js';
import { freshDatabase } from '../../support/database.js';
import { CuttableProxy } from '../../support/outages.js';

/**
 * hotQuery (src/db/hot-query.ts) sends a prepared statement past knex's runner, on PostgreSQL on a
 * connection of knex's own pool, on PGlite through its protocol in one call; inside a transaction
 * it is db.raw. Either way the caller sees the same rows, errors and query events.
 */
const database_url = () => process.env.DATABASE_URL;

async function until(check: () => Promise<boolean>) {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('condition not reached in 2 s');
}

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

  it('refuses a statement whose values do not match its placeholders, alike on every database, as a mistake', async () => {
    // PostgreSQL would answer a wrong count with SQLSTATE 08P01, which reads as an outage (503).
    for (const values of [[1, 'extra'], []]) {
      const err = await hotQuery(db, 'select name from hot where id = ?', values).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TypeError);
      expect(isDbUnavailable(err)).toBe(false);
    }
    await expect(hotQuery(db, 'select name from hot where id = ?', [undefined as unknown as null])).rejects.toBeInstanceOf(TypeError);
    await expect(hotQuery(db, 'select ?? from hot', ['name'])).rejects.toBeInstanceOf(TypeError);
  });

  // Only a server can end a session (PGlite runs in this process).
  (database_url() ? it.each(['hotQuery', 'db.raw']) : it.skip.each(['hotQuery', 'db.raw']))('%s: a connection whose backend was terminated is not handed out again; the next statement succeeds', async (how) => {
    const admin = createDb({ databaseUrl: database.url, dataDir: 'memory://' });
    const run = (sql: string, values: number[]) => (how === 'hotQuery' ? hotQuery(db, sql, values) : db.raw(sql, values));
    try {
      for (let i = 0; i < 6; i++) {
        const running = run('select pg_sleep(5), ?::int as n', [i]).catch((e: unknown) => e);
        await until(async () => (await admin.raw("select 1 from pg_stat_activity where query like 'select pg_sleep(5)%' and state = 'active'")).rows.length > 0);
        await admin.raw("select pg_terminate_backend(pid) from pg_stat_activity where query like 'select pg_sleep(5)%'");
        const err = await running;
        expect(isDbUnavailable(err)).toBe(true); // 57P01: a 503 for the request that was running
        // Without the connection marked, the pool gave it out again before its 'end' event and this
        // failed with "Connection terminated unexpectedly" (no SQLSTATE: a 500).
        expect((await run('select ?::int as n', [i])).rows[0].n).toBe(i);
      }
    } finally {
      await admin.destroy();
    }
  });

  // The socket closed with no word from the server (a network cut, a backend killed): pg fails
  // the statement with "Connection terminated unexpectedly" and no SQLSTATE, which read as a 500.
  (database_url() ? it.each(['hotQuery', 'db.raw']) : it.skip.each(['hotQuery', 'db.raw']))('%s: a connection lost mid-statement is an outage (503), and the pool recovers', async (how) => {
    const { proxy, url } = await CuttableProxy.inFrontOf(database.url!);
    const viaProxy = createDb({ databaseUrl: url, dataDir: 'memory://' });
    const run = (sql: string, values: number[]) => (how === 'hotQuery' ? hotQuery(viaProxy, sql, values) : viaProxy.raw(sql, values));
    try {
      expect((await run('select ?::int as n', [1])).rows[0].n).toBe(1);
      const running = run('select pg_sleep(5), ?::int as n', [2]).catch((e: unknown) => e);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await proxy.cut();
      const err = await running;
      expect(err).toBeInstanceOf(Error);
      expect(isDbUnavailable(err)).toBe(true);
      await proxy.open();
      expect((await run('select ?::int as n', [3])).rows[0].n).toBe(3);
    } finally {
      await viaProxy.destroy();
      await proxy.cut();
    }
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

  /** On PostgreSQL a pool of one connection, so the statements prepared are on the one asked; PGlite has one anyway. */
  const oneConnection = () => (database.url ? knexFactory({ client: 'pg', connection: database.url, pool: { min: 0, max: 1 } }) : db);
  const closeOne = async (one: Db) => {
    if (one !== db) await one.destroy();
  };

  /**
   * How many times the statement was run since it was (last) prepared on this connection: each run
   * is counted under the plan it took (custom, or generic once kept: plan_cache_mode auto, db/knex.ts).
   */
  const runsSincePrepared = async (one: Db, text: string) => {
    const { rows } = await one.raw('select (custom_plans + generic_plans)::int as n from pg_prepared_statements where statement = ?', [text]);
    return (rows as { n: number }[]).map((r) => r.n);
  };

  it('prepares a statement again on its connection when a migration changed its table, and stays named', async () => {
    const one = oneConnection();
    const off: unknown[] = [];
    const onOff = (refusal: unknown) => off.push(refusal);
    one.on('prepared-statements-off', onOff);
    const text = 'select * from hot_stale where id = $1';
    try {
      await one.raw('create table hot_stale (id int primary key, name text)');
      await one.raw(`insert into hot_stale values (1, 'one')`);
      expect((await hotQuery(one, 'select * from hot_stale where id = ?', [1])).rows[0]).toEqual({ id: 1, name: 'one' });
      expect((await hotQuery(one, 'select * from hot_stale where id = ?', [1])).rows[0]).toEqual({ id: 1, name: 'one' });
      expect(await runsSincePrepared(one, text)).toEqual([2]);
      // A schema changed under a running node (a rolling upgrade): the prepared row type is stale.
      await one.raw('alter table hot_stale add column extra text');
      expect((await hotQuery(one, 'select * from hot_stale where id = ?', [1])).rows[0]).toEqual({ id: 1, name: 'one', extra: null });
      // Prepared again, under the same name: one run since.
      expect(await runsSincePrepared(one, text)).toEqual([1]);
      // Still named, for this and every other statement.
      await hotQuery(one, 'select name from hot_stale where id = ?', [1]);
      expect(await runsSincePrepared(one, 'select name from hot_stale where id = $1')).toEqual([1]);
      expect(off).toEqual([]);
    } finally {
      one.off('prepared-statements-off', onOff);
      await one.raw('drop table if exists hot_stale');
      await closeOne(one);
    }
  });

  it('prepares each statement once: the next calls only bind it (PGlite as PostgreSQL), with values and rows as db.raw has them', async () => {
    const one = oneConnection();
    try {
      const sql = 'select id, name, at, ?::jsonb as doc, ?::boolean as flag, ?::text as nothing from hot where id = ?';
      const values = [JSON.stringify({ a: [1, 'two'] }), true, null, 1];
      const text = sql.replace(/\?/g, (() => { let n = 0; return () => `$${++n}`; })());
      const first = await hotQuery(one, sql, values);
      expect(await runsSincePrepared(one, text)).toEqual([1]);
      // Run again on the statement prepared by the first call, not parsed anew.
      const again = await hotQuery(one, sql, values);
      expect(await runsSincePrepared(one, text)).toEqual([2]);
      expect(again.rows).toEqual(first.rows);
      expect(first.rows).toEqual((await one.raw(sql, values)).rows);
      expect(first.rows[0]).toMatchObject({ id: 1, name: 'one', doc: { a: [1, 'two'] }, flag: true, nothing: null });
      if (!database.url) {
        // The embedded database's statements dropped under it: prepared again, not failing from
        // then on. (On PostgreSQL that is a pooler's doing, and the last test of this file.)
        await one.raw('deallocate all');
        expect((await hotQuery(one, sql, values)).rows).toEqual(first.rows);
        expect(await runsSincePrepared(one, text)).toEqual([1]);
      }
    } finally {
      await closeOne(one);
    }
  });

  it('many at once, beside transactions, knex queries and a LISTEN: each gets its own answer, a transaction sees only its own statements, every notification arrives', async () => {
    const heard: string[] = [];
    const listening = await listen(db, 'hot_query_test', { message: (payload) => heard.push(payload), live: () => {} });
    try {
      const runs = Array.from({ length: 40 }, (_, i) => i);
      const transactions = [0, 1, 2].map((t) => db.transaction(async (trx) => {
        await trx.raw('insert into hot (id, name) values (?, ?)', [1000 + t, `trx ${t}`]);
        await new Promise((resolve) => setTimeout(resolve, 5));
        throw new Error('roll back');
      }).catch((err: Error) => err.message));
      const answers = await Promise.all([
        ...runs.map((i) => hotQuery<{ n: number; name: string | null }>(db, 'select ?::int as n, (select name from hot where id = ?) as name', [i, i % 2 === 0 ? 1 : 1000]).then((r) => r.rows[0])),
        ...runs.map((i) => db.raw('select ?::int as n', [i]).then((r: { rows: { n: number }[] }) => ({ n: r.rows[0].n, name: 'raw' }))),
        ...runs.slice(0, 10).map((i) => hotQuery(db, "select pg_notify('hot_query_test', ?) as sent", [`hot ${i}`])),
        ...runs.slice(0, 10).map((i) => db.raw("select pg_notify('hot_query_test', ?) as sent", [`raw ${i}`])),
      ]);
      expect(await Promise.all(transactions)).toEqual(['roll back', 'roll back', 'roll back']);
      // No hot statement ran inside a transaction (it would have seen the transaction's row).
      expect(answers.slice(0, runs.length)).toEqual(runs.map((i) => ({ n: i, name: i % 2 === 0 ? 'one' : null })));
      expect(answers.slice(runs.length, 2 * runs.length)).toEqual(runs.map((i) => ({ n: i, name: 'raw' })));
      expect((await hotQuery(db, 'select count(*)::int as n from hot where id >= ?', [1000])).rows[0].n).toBe(0);
      await until(async () => heard.length >= 20);
      expect(heard.sort()).toEqual(runs.slice(0, 10).flatMap((i) => [`hot ${i}`, `raw ${i}`]).sort());
    } finally {
      await listening.close();
    }
  });

  // Last in this file: the process names no statement after a refusal.
  (database_url() ? it : it.skip)('names each statement once per connection, and runs it unnamed from then on when a pooler refuses the name', async () => {
    const one = knexFactory({ client: 'pg', connection: database.url, pool: { min: 0, max: 1 } });
    const off: unknown[] = [];
    one.on('prepared-statements-off', (refusal: unknown) => off.push(refusal));
    try {
      await hotQuery(one, 'select name from hot where id = ?', [1]);
      const prepared = await hotQuery<{ statement: string }>(one, 'select statement from pg_prepared_statements where name like ?', ['gh\\_%']);
      expect(prepared.rows.map((r) => r.statement)).toContain('select name from hot where id = $1');
      // What a pooler in transaction mode does: the next call lands on a server connection that
      // does not have the name.
      await one.raw('deallocate all');
      expect((await hotQuery(one, 'select name from hot where id = ?', [1])).rows[0].name).toBe('one');
      expect(off).toEqual([expect.objectContaining({ code: '26000' })]);
      // From then on no statement is named.
      await hotQuery(one, 'select id from hot where name = ?', ['one']);
      expect((await one.raw(`select count(*)::int as n from pg_prepared_statements`)).rows[0].n).toBe(0);
      await one.raw('deallocate all');
      expect((await hotQuery(one, 'select name from hot where id = ?', [1])).rows[0].name).toBe('one');
      expect(off).toHaveLength(1);
    } finally {
      await one.destroy();
    }
  });
});
