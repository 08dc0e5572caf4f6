import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import type { Db } from '../../../src/db/knex.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { PostgresAdapter } from '../../../src/provider/adapters/postgres.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

/**
 * New sessions, grants and tokens are committed without waiting for the WAL flush (a crash may
 * forget the last of them: they fail closed); that setting must stay inside their own statement,
 * or the revocation that runs next on the same connection would not wait for the flush either.
 */
let gh: TestGatehouse;
let tenant: Tenant;
let db: Db;

beforeAll(async () => {
  gh = await startTestGatehouse();
  tenant = await gh.tenant();
  // One connection, so the check below runs where the save ran (PGlite has only one anyway).
  db = gh.deps.config.databaseUrl ? knexFactory({ client: 'pg', connection: gh.deps.config.databaseUrl, pool: { min: 0, max: 1 } }) : gh.deps.db;
});
afterAll(async () => {
  if (db !== gh.deps.db) await db.destroy();
  await gh.stop();
});

const setting = async () => (await db.raw('show synchronous_commit')).rows[0].synchronous_commit;

it('leaves synchronous_commit as it was on the connection after saving each kind of artifact', async () => {
  const user = await gh.user(tenant);
  const id = () => randomBytes(12).toString('base64url');
  const grantId = id();
  await new PostgresAdapter(db, tenant.id, 'Grant').upsert(grantId, { kind: 'Grant', jti: grantId, accountId: user.id, clientId: 'app' }, 3600);
  expect(await setting()).toBe('on');
  const sessionId = id();
  const sessions = new PostgresAdapter(db, tenant.id, 'Session');
  await sessions.upsert(sessionId, { kind: 'Session', jti: sessionId, uid: id(), accountId: user.id, authorizations: { app: { grantId } } }, 3600);
  expect(await setting()).toBe('on');
  const tokenId = id();
  const tokens = new PostgresAdapter(db, tenant.id, 'RefreshToken');
  await tokens.upsert(tokenId, { kind: 'RefreshToken', jti: tokenId, grantId, accountId: user.id, clientId: 'app' }, 3600);
  expect(await setting()).toBe('on');
  // Saved all the same, and revoked as before.
  expect(await tokens.find(tokenId)).toMatchObject({ grantId });
  await tokens.revokeByGrantId(grantId);
  expect(await tokens.find(tokenId)).toBeUndefined();
  expect(await sessions.find(sessionId)).toMatchObject({ accountId: user.id });
});

it('waits for the flush when saving inside a caller\'s transaction, where the setting would hold for all of it', async () => {
  const user = await gh.user(tenant);
  const tokenId = randomBytes(12).toString('base64url');
  await db.transaction(async (trx) => {
    await new PostgresAdapter(trx, tenant.id, 'AccessToken').upsert(tokenId, { kind: 'AccessToken', jti: tokenId, accountId: user.id, clientId: 'app' }, 3600);
    expect((await trx.raw('show synchronous_commit')).rows[0].synchronous_commit).toBe('on');
  });
  expect(await new PostgresAdapter(db, tenant.id, 'AccessToken').find(tokenId)).toMatchObject({ accountId: user.id });
});
