import { verifyAuditChain } from '../../../src/audit/verify.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

let gh: TestGatehouse;
beforeAll(async () => {
  gh = await startTestGatehouse();
});
afterAll(() => gh.stop());

describe('the audit trail in Postgres', () => {
  it('verifies an untouched chain, and finds an edited row, a deleted row and a cut tail', async () => {
    const tenant = await gh.tenant();
    for (let i = 0; i < 4; i++) await gh.user(tenant);
    const db = gh.deps.db;
    const intact = await verifyAuditChain(db, tenant.id);
    expect(intact.break).toBeUndefined();
    expect(intact.events).toBeGreaterThanOrEqual(5);

    await db('audit_events').where({ tenant_id: tenant.id, id: 3 }).update({ actor: 'someone-else' });
    expect((await verifyAuditChain(db, tenant.id)).break).toEqual({ id: 3, reason: 'hash_mismatch' });

    const other = await gh.tenant();
    for (let i = 0; i < 3; i++) await gh.user(other);
    await db('audit_events').where({ tenant_id: other.id, id: 2 }).delete();
    expect((await verifyAuditChain(db, other.id)).break).toEqual({ id: 3, reason: 'gap' });

    const third = await gh.tenant();
    for (let i = 0; i < 3; i++) await gh.user(third);
    const last = await db('audit_events').where({ tenant_id: third.id }).max('id as id').first();
    await db('audit_events').where({ tenant_id: third.id, id: last!.id }).delete();
    expect((await verifyAuditChain(db, third.id)).break?.reason).toBe('gap');
  });

  it('keeps each tenant on its own chain under concurrent writes', async () => {
    const tenant = await gh.tenant();
    await Promise.all(Array.from({ length: 8 }, () => gh.user(tenant)));
    expect(await verifyAuditChain(gh.deps.db, tenant.id)).toMatchObject({ events: 9 });
  });
});
