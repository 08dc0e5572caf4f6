import knexFactory, { type Knex } from 'knex';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemAdminApi } from '../../support/admin.js';
import { freshDatabase, logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

// A failover that leaves a node's connections on a server that is read-only now (a demoted
// primary, a standby behind the address the node reconnected to: Aurora, Patroni, RDS) refuses
// every write with SQLSTATE 25006. That is the database not being there for writes: 503 with
// Retry-After, never a 500 with a stack, and the connection is not used again, so once the
// address leads to a writable server the node writes again without a restart. Here the database
// is made read-only for new sessions and the node's sessions are ended, so it reconnects to a
// read-only database; then it is made writable again for new sessions only, as a failover would.
const base = process.env.DATABASE_URL;
const describeWithServer = base ? describe : describe.skip; // the embedded database has no such switch

let gh: TestGatehouse;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let server: Knex;
let name: string;
beforeAll(async () => {
  if (!base) return;
  db = await freshDatabase();
  name = new URL(db.url!).pathname.slice(1);
  server = knexFactory({ client: 'pg', connection: base, pool: { min: 0, max: 1 } });
  gh = await startTestGatehouse({ databaseUrl: db.url });
});
afterAll(async () => {
  if (!base) return;
  await server.raw(`alter database ${name} reset default_transaction_read_only`).catch(() => {});
  await gh.stop();
  await server.destroy();
  await db.drop();
});

describeWithServer('a database that refuses for now', () => {
  it('answers writes 503, logs no stack, and writes again once the server is writable, without a restart', async () => {
    const tenant = await gh.tenant();
    const admin = await systemAdminApi(gh);
    const createUser = (i: number) => admin('POST', `/tenants/${tenant.slug}/users`, { email: `ro${i}@example.com`, name: 'Read Only', password: 'a long enough password 1' });
    expect((await createUser(0)).status).toBe(201);
    // Every pooled connection in use at once, so the pool holds several.
    await Promise.all(Array.from({ length: 6 }, (_, i) => admin('GET', `/tenants/${tenant.slug}/users?limit=${i + 1}`)));

    await server.raw(`alter database ${name} set default_transaction_read_only = on`);
    await server.raw('select pg_terminate_backend(pid) from pg_stat_activity where datname = ? and pid <> pg_backend_pid()', [name]);
    const before = logLines.length;
    const during = [];
    for (let i = 1; i <= 8; i++) during.push(await createUser(i));
    expect(during.map((r) => r.status)).toEqual(Array(8).fill(503));
    for (const r of during) {
      expect(r.headers.get('retry-after')).toBe('5');
      expect(r.body).toMatchObject({ status: 503, code: 'temporarily_unavailable' });
    }
    const lines = logLines.slice(before);
    expect(lines.filter((l) => l.includes('"stack"'))).toEqual([]);
    const refused = lines.map((l) => JSON.parse(l) as { message?: string; error?: { code?: string; store?: string } }).filter((l) => l.error?.code === '25006');
    expect(refused.length).toBeGreaterThan(0);
    for (const line of refused) expect(line).toMatchObject({ message: expect.stringMatching(/\.unavailable$/), error: { store: 'postgres' } });
    // What only reads is served, and the node stays ready: the server answers.
    expect((await fetch(`${gh.url}/t/${tenant.slug}/.well-known/openid-configuration`)).status).toBe(200);
    expect((await fetch(`${gh.url}/t/${tenant.slug}/jwks`)).status).toBe(200);
    expect((await fetch(`${gh.url}/readyz`)).status).toBe(200);

    // Writable again for new sessions; the sessions the node holds still default to read-only.
    await server.raw(`alter database ${name} reset default_transaction_read_only`);
    let recovered = false;
    const after = [];
    for (let i = 9; i < 40 && !recovered; i++) {
      const r = await createUser(i);
      after.push(r.status);
      recovered = r.status === 201;
      if (!recovered) await sleep(100);
    }
    expect(recovered).toBe(true);
    expect(after.filter((s) => s !== 201 && s !== 503)).toEqual([]);
    // Nothing of the refused writes was kept: the first user and the last one.
    const users = await gh.deps.db('users').where({ tenant_id: tenant.id }).pluck('email');
    expect(users.sort()).toEqual(['ro0@example.com', `ro${8 + after.length}@example.com`].sort());
  });

  it('answers 503 to a statement the server cancelled (an operator\'s statement_timeout), and nothing is kept', async () => {
    const tenant = await gh.tenant();
    const admin = await systemAdminApi(gh);
    await server.raw(`alter database ${name} set statement_timeout = '200ms'`);
    // New sessions get the setting; a trigger makes the user insert outlast it.
    await gh.deps.db.raw(`create or replace function test_slow_insert() returns trigger language plpgsql as $$ begin perform pg_sleep(1); return new; end $$`);
    await gh.deps.db.raw('create trigger test_slow_insert before insert on users for each row execute function test_slow_insert()');
    await server.raw('select pg_terminate_backend(pid) from pg_stat_activity where datname = ? and pid <> pg_backend_pid()', [name]);
    try {
      const statuses = [];
      for (let i = 0; i < 4; i++) {
        const r = await admin('POST', `/tenants/${tenant.slug}/users`, { email: `slow${i}@example.com`, name: 'Slow' });
        statuses.push(r.status);
        if (r.status === 503) expect(r.body).toMatchObject({ status: 503, code: 'temporarily_unavailable' });
      }
      expect(statuses.filter((s) => s !== 503)).toEqual([]);
      expect(await gh.deps.db('users').where({ tenant_id: tenant.id }).pluck('email')).toEqual([]);
    } finally {
      await server.raw(`alter database ${name} reset statement_timeout`);
      await gh.deps.db.raw('drop trigger if exists test_slow_insert on users').catch(() => {});
      await server.raw('select pg_terminate_backend(pid) from pg_stat_activity where datname = ? and pid <> pg_backend_pid()', [name]);
    }
  });
});
