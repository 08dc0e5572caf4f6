import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { closeDeps, openDeps, startGatehouse } from '../../../src/app.js';
import { MIGRATION_LOCK } from '../../../src/db/migrate.js';
import { ConfigError, loadConfig, type Config } from '../../../src/config/load.js';
import { migrations } from '../../../migrations/index.js';
import { freshDatabase, logLines } from '../../support/gatehouse.js';

// The Helm chart's pods set GATEHOUSE_MIGRATE_ON_START=false: the pre-install/pre-upgrade Job runs
// `gatehouse migrate`, and a pod never migrates (or races the Job) itself.
let db: Awaited<ReturnType<typeof freshDatabase>>;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(() => db?.drop());

const config = (overrides: Partial<Config> = {}): Config => ({
  production: false, port: 0, publicUrl: '', publicUrlFixed: false, trustProxy: [], databaseUrl: db.url, dataDir: db.dataDir!,
  masterKey: masterKey, bootstrap: {}, bcryptCost: 4, logLevel: 'debug', outboundAllow: [], ...overrides,
});
const masterKey = randomBytes(32).toString('base64');

it('reads GATEHOUSE_MIGRATE_ON_START as true or false, true when unset, and names it when wrong', () => {
  expect(loadConfig({}).migrateOnStart).toBe(true);
  expect(loadConfig({ GATEHOUSE_MIGRATE_ON_START: 'false' }).migrateOnStart).toBe(false);
  expect(() => loadConfig({ GATEHOUSE_MIGRATE_ON_START: 'no' })).toThrow('Invalid configuration: GATEHOUSE_MIGRATE_ON_START must be true or false');
});

it('with false, refuses an unmigrated database in one line, and starts once `gatehouse migrate` ran', async () => {
  const err = await startGatehouse(config({ migrateOnStart: false }), { kvPrefix: 'ghtest:migrate:' }).then(async (gh) => {
    await gh.close();
    return undefined;
  }, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as Error).message).toMatch(/^The database lacks \d+ migration\(s\) of this version \(first: \S+\): run `gatehouse migrate` first/);
  expect((err as Error).message).not.toContain('\n');

  // What `gatehouse migrate` does (src/cli: openDeps migrates, then closes), with a line saying what it applied.
  await closeDeps(await openDeps(config(), { kvPrefix: 'ghtest:migrate:' }));
  const migrated = logLines.map((l) => JSON.parse(l)).filter((l) => l.message === 'db.migrated');
  expect(migrated).toHaveLength(1);
  expect(migrated[0].count).toBeGreaterThan(5);
  expect(migrated[0].migrations).toContain(Object.keys(migrations).sort().pop());
  // Nothing left to apply: no line.
  await closeDeps(await openDeps(config(), { kvPrefix: 'ghtest:migrate:' }));
  expect(logLines.filter((l) => l.includes('db.migrated'))).toHaveLength(1);

  const gh = await startGatehouse(config({ migrateOnStart: false }), { kvPrefix: 'ghtest:migrate:' });
  try {
    const ready = await fetch(`${gh.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { postgres: true, kv: true, master_key: true } });
  } finally {
    await gh.close();
  }
}, 120_000);

// docs/deployment.md: nodes starting together do not race their migrations. On a new database they
// did: knex creates its lock table without a lock, and the second node failed to start (a
// duplicate pg_type row). src/db/migrate.ts's advisory lock makes each wait for the node running
// them, which this test plays from a connection of its own: while it holds the lock neither node
// migrates (knex has not even made its tables) and each says once that it waits; released, one
// migrates and the other finds nothing to do. A server only: the embedded database belongs to one
// process.
(process.env.DATABASE_URL ? it : it.skip)('starts two nodes together on a new database once the node holding the migrations\' lock lets go', async () => {
  const fresh = await freshDatabase();
  const holder = new pg.Client({ connectionString: fresh.url });
  await holder.connect();
  try {
    await holder.query('select pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK]);
    const before = logLines.length;
    const starting = Promise.allSettled([0, 1].map(() => openDeps(config({ databaseUrl: fresh.url }), { kvPrefix: 'ghtest:migrate-together:' })));
    await sleep(1_500);
    expect((await holder.query(`select to_regclass('knex_migrations') as t`)).rows[0].t).toBeNull();
    expect(logLines.slice(before).filter((l) => l.includes('db.migrate_waiting'))).toHaveLength(2);
    await holder.query('select pg_advisory_unlock(hashtext($1))', [MIGRATION_LOCK]);
    const both = await starting;
    for (const started of both) if (started.status === 'fulfilled') await closeDeps(started.value);
    expect(both.map((s) => (s.status === 'rejected' ? String(s.reason) : 'started'))).toEqual(['started', 'started']);
  } finally {
    await holder.end();
    await fresh.drop();
  }
}, 120_000);
