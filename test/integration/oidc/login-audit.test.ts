import { recordAuditNow } from '../../../src/audit/record.js';
import { verifyAuditChain } from '../../../src/audit/verify.js';
import { createDb, type Db } from '../../../src/db/knex.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

/**
 * Login events are appended with a compare-and-set on the chain head this node last wrote
 * (audit/record.ts). Whatever else appends meanwhile (this node's transactions, another node),
 * no event is lost and the chain stays one unbroken line.
 */
let gh: TestGatehouse;
let other: Db;
beforeAll(async () => {
  gh = await startTestGatehouse();
  // With DATABASE_URL a second pool, as another node has; on PGlite the same database handle.
  other = gh.config.databaseUrl ? createDb({ databaseUrl: gh.config.databaseUrl, dataDir: gh.config.dataDir }) : gh.deps.db;
});
afterAll(async () => {
  if (other !== gh.deps.db) await other.destroy();
  await gh.stop();
});

describe('login audit events', () => {
  it('records login.succeeded for every login, on an intact chain', async () => {
    const tenant = await gh.tenant();
    const user = await gh.user(tenant);
    const app = await gh.client(tenant);
    const issuer = `${gh.url}/t/${tenant.slug}`;
    for (let i = 0; i < 3; i++) await (await RelyingParty.discover({ issuer, ...app })).login(user);
    const logins = await gh.deps.db('audit_events').where({ tenant_id: tenant.id, type: 'login.succeeded', subject: `user:${user.id}` });
    expect(logins).toHaveLength(3);
    expect((await verifyAuditChain(gh.deps.db, tenant.id)).break).toBeUndefined();
  });

  it('loses nothing when other writers append between and during its appends', async () => {
    const tenant = await gh.tenant();
    const event = (n: number, by: string) => ({ tenantId: tenant.id, type: 'test.appended', actor: by, details: { n } });
    const writes: Promise<unknown>[] = [];
    for (let n = 0; n < 10; n++) {
      writes.push(recordAuditNow(gh.deps.db, event(n, 'node-a')));
      writes.push(recordAuditNow(other, event(n, 'node-b')));
      // Users are created in transactions that lock the head (recordAudit).
      if (n % 3 === 0) writes.push(gh.user(tenant));
    }
    await Promise.all(writes);
    const rows = await gh.deps.db('audit_events').where({ tenant_id: tenant.id, type: 'test.appended' });
    expect(rows).toHaveLength(20);
    const report = await verifyAuditChain(gh.deps.db, tenant.id);
    expect(report.break).toBeUndefined();
    expect(report.events).toBe(20 + 4 + 1); // + user.created events, + tenant.created
  });
});
