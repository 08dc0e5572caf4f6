import { createDb, type Db } from '../../../src/db/knex.js';
import { unavailableDetails } from '../../../src/deps.js';
import { freshDatabase } from '../../support/database.js';

// Errors of failed statements reach the logs (provider.server_error, the 503 lines): knex puts the
// statement in front of the error's message, and it must not carry the statement's values.
describe('a failed statement\'s error', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Db;

  beforeAll(async () => {
    database = await freshDatabase('gh_errmsg');
    db = createDb({ databaseUrl: database.url, dataDir: database.dataDir ?? 'memory://' });
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  it('names the statement with placeholders, never its values', async () => {
    // Division by zero: PostgreSQL's own message does not repeat a value.
    const err = await db.raw('select ?::text as secret, 1 / 0 as boom', ['$2b$12$a-password-hash']).then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain('select');
    expect(err!.message).toContain('division by zero');
    expect(err!.message).not.toContain('a-password-hash');
  });

  const pgOnly = process.env.DATABASE_URL ? it : it.skip;
  pgOnly('of a session the server ended mid-statement (57P01): the 503 line has neither the statement nor its values', async () => {
    const err = await db.raw('select pg_terminate_backend(pg_backend_pid()), ?::text as email', ['alice@example.com']).then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).not.toContain('alice@example.com');
    const details = unavailableDetails(err);
    expect(details).toMatchObject({ store: 'postgres', code: '57P01' });
    expect(JSON.stringify(details)).not.toContain('alice');
  });

  // The server ends the session of a transaction (a restart, an operator's pg_terminate_backend):
  // the statement fails, then knex's ROLLBACK on the dead connection fails with pg's plain "not
  // queryable" Error, and knex rejects the transaction with that error, not the first.
  pgOnly('of a transaction whose session the server ended: a connection failure (503), not a 500', async () => {
    const other = createDb({ databaseUrl: database.url, dataDir: 'memory://' });
    try {
      const err = await db.transaction(async (trx) => {
        const { pid } = (await trx.raw('select pg_backend_pid() as pid')).rows[0] as { pid: number };
        await other.raw('select pg_terminate_backend(?)', [pid]);
        await new Promise((resolve) => setTimeout(resolve, 200)); // the server's FATAL arrives first
        await trx.raw('select 1');
      }).then(() => undefined, (e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect(unavailableDetails(err)).toMatchObject({ store: 'postgres', code: expect.stringMatching(/^(08006|57P01)$/) });
      // The pool hands out a working connection afterwards.
      expect((await db.raw('select 1 as ok')).rows[0]).toEqual({ ok: 1 });
    } finally {
      await other.destroy();
    }
  });
});
