import { setTimeout as sleep } from 'node:timers/promises';
import { drainAuditOutbox, recordAuditOrKeep } from '../../../src/audit/outbox.js';
import { verifyAuditChain } from '../../../src/audit/verify.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

// DESIGN.md "Operations": no lost audit event for a completed action. A token revoked in the kv
// store is gone whatever PostgreSQL does next; when PostgreSQL then refuses the event (here a
// trigger answers its inserts with 57P01, the code of a server shutting the session down), the
// event waits in the kv store and a drain appends it once PostgreSQL takes it again.
let gh: TestGatehouse;
beforeAll(async () => {
  gh = await startTestGatehouse();
});
afterAll(() => gh.stop());

const outboxKey = () => `${gh.deps.kvPrefix}audit-outbox`;
const refuseEvents = async (tenantId: string, type: string, code = '57P01') => {
  await gh.deps.db.raw(`create or replace function test_refuse_audit() returns trigger language plpgsql as $$
    begin
      if new.tenant_id = '${tenantId}' and new.type = '${type}' then
        raise exception 'refused by the test' using errcode = '${code}';
      end if;
      return new;
    end $$`);
  await gh.deps.db.raw('drop trigger if exists test_refuse_audit on audit_events');
  await gh.deps.db.raw('create trigger test_refuse_audit before insert on audit_events for each row execute function test_refuse_audit()');
};
const takeEventsAgain = () => gh.deps.db.raw('drop trigger if exists test_refuse_audit on audit_events');
const eventsOf = (tenantId: string, type: string) => gh.deps.db('audit_events').where({ tenant_id: tenantId, type }).orderBy('id');

describe('an audit event PostgreSQL cannot take when its action happens', () => {
  afterEach(takeEventsAgain);

  it('is kept, the revocation answers 200, and the event is appended once PostgreSQL takes it', async () => {
    const tenant = await gh.tenant();
    const app = await gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [], response_types: [] });
    const basic = `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`;
    const post = (path: string, body: Record<string, string>) => fetch(`${gh.url}/t/${tenant.slug}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic }, body: new URLSearchParams(body),
    });
    const issued = await (await post('/token', { grant_type: 'client_credentials' })).json();
    expect(issued.access_token).toEqual(expect.any(String));
    expect(issued.access_token.split('.')).toHaveLength(1); // opaque: stored in the kv store

    await refuseEvents(tenant.id, 'token.revoked');
    const before = logLines.length;
    const revoked = await post('/token/revocation', { token: issued.access_token });
    expect(revoked.status).toBe(200);
    expect(await (await post('/token/introspection', { token: issued.access_token })).json()).toEqual({ active: false });
    expect(await eventsOf(tenant.id, 'token.revoked')).toEqual([]);
    const deferred = logLines.slice(before).map((line) => JSON.parse(line)).filter((line) => line.message === 'audit.deferred');
    expect(deferred).toEqual([expect.objectContaining({ level: 'warn', tenant_id: tenant.id, type: 'token.revoked' })]);
    expect(JSON.stringify(deferred)).not.toContain(issued.access_token);

    await sleep(6000); // a drain ran meanwhile (every 5 s) and found PostgreSQL still refusing
    expect(await eventsOf(tenant.id, 'token.revoked')).toEqual([]);

    await takeEventsAgain();
    let events: Array<{ actor: string; details: Record<string, unknown>; at: Date }> = [];
    for (let waited = 0; waited < 15_000 && events.length === 0; waited += 250) {
      await sleep(250);
      events = await eventsOf(tenant.id, 'token.revoked');
    }
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: `client:${app.clientId}`, subject: `client:${app.clientId}`, outcome: 'success' });
    expect(events[0].details).toMatchObject({ kinds: ['client_credentials'], via: 'revocation', recorded_late: true, outbox_id: expect.any(String) });
    const occurred = Date.parse(String(events[0].details.occurred_at));
    expect(occurred).toBeLessThan(new Date(events[0].at).getTime() - 5000);
    expect((await verifyAuditChain(gh.deps.db, tenant.id)).break).toBeUndefined();
  });

  it('is appended once, however many drains take it or however often its clearing fails', async () => {
    const tenant = await gh.tenant();
    await refuseEvents(tenant.id, 'account.locked');
    const event = { tenantId: tenant.id, type: 'account.locked', actor: 'system', subject: 'user:someone' as const, details: { duration_seconds: 60 } };
    for (let i = 0; i < 3; i++) await recordAuditOrKeep(gh.deps, event);
    expect(await eventsOf(tenant.id, 'account.locked')).toEqual([]);
    expect(await drainAuditOutbox(gh.deps)).toBe(0); // PostgreSQL still refuses: all wait
    const waiting = (await gh.deps.kv.smembers(outboxKey())).filter((m) => m.includes(tenant.id));
    expect(waiting).toHaveLength(3);

    await takeEventsAgain();
    await Promise.all([drainAuditOutbox(gh.deps), drainAuditOutbox(gh.deps), drainAuditOutbox(gh.deps)]);
    const events = await eventsOf(tenant.id, 'account.locked');
    expect(events).toHaveLength(3);
    expect(new Set(events.map((e: { details: { outbox_id: string } }) => e.details.outbox_id)).size).toBe(3);
    expect((await gh.deps.kv.smembers(outboxKey())).filter((m) => m.includes(tenant.id))).toEqual([]);

    // A drain that appended them and died before clearing them: they are found again, refused by
    // the outbox index, and cleared.
    for (const member of waiting) await gh.deps.kv.sadd(outboxKey(), member, 60);
    await drainAuditOutbox(gh.deps);
    expect(await eventsOf(tenant.id, 'account.locked')).toHaveLength(3);
    expect((await gh.deps.kv.smembers(outboxKey())).filter((m) => m.includes(tenant.id))).toEqual([]);
    expect((await verifyAuditChain(gh.deps.db, tenant.id)).break).toBeUndefined();
  });

  it('waits on when PostgreSQL refuses it for another reason, and lets go of what cannot be read', async () => {
    const tenant = await gh.tenant();
    await refuseEvents(tenant.id, 'account.locked');
    await recordAuditOrKeep(gh.deps, { tenantId: tenant.id, type: 'account.locked', actor: 'system', subject: 'user:another' });
    await refuseEvents(tenant.id, 'account.locked', '22023'); // now a refusal that is no outage
    await gh.deps.kv.sadd(outboxKey(), `not json ${tenant.id}`, 60);
    const before = logLines.length;
    expect(await drainAuditOutbox(gh.deps)).toBe(0);
    const lines = logLines.slice(before).map((line) => JSON.parse(line));
    expect(lines.filter((l) => l.message === 'audit.deferred_failed')).toEqual([expect.objectContaining({ tenant_id: tenant.id, type: 'account.locked', error: expect.objectContaining({ code: '22023' }) })]);
    expect(lines.filter((l) => l.message === 'audit.deferred_unreadable')).toHaveLength(1);
    expect((await gh.deps.kv.smembers(outboxKey())).filter((m) => m.includes(tenant.id))).toHaveLength(1); // the event waits; the unreadable one is gone

    await takeEventsAgain();
    await drainAuditOutbox(gh.deps);
    expect(await eventsOf(tenant.id, 'account.locked')).toHaveLength(1);
  });

  it('is not kept when the failure is not an outage: the caller sees it', async () => {
    await expect(recordAuditOrKeep(gh.deps, { tenantId: 'not-a-tenant', type: 'account.locked', actor: 'system' })).rejects.toMatchObject({ code: '22P02' });
    expect(await drainAuditOutbox(gh.deps)).toBe(0);
  });
});
