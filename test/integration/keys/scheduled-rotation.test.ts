import { setTimeout as sleep } from 'node:timers/promises';
import * as jose from 'jose';
import type { Gatehouse } from '../../../src/app.js';
import { CLI_ACTOR } from '../../../src/deps.js';
import { runKeySchedule } from '../../../src/domain/keys/key-schedule.js';
import { rotateSigningKey } from '../../../src/domain/keys/keys.service.js';
import { changeTenantSettings } from '../../../src/domain/tenants/tenants.service.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { startSecondNode } from '../../support/nodes.js';
import { RelyingParty } from '../../support/relying-party.js';

// DESIGN.md "Operations": keys rotate on schedule (key_rotation_days) on exactly one node at a
// time; the previous key stays in JWKS until every token it signed has expired. Both nodes run
// the scheduler every 200 ms; with DATABASE_URL they are two servers on one PostgreSQL (on the
// embedded database, one node: PGlite belongs to one process).
const TTL = 8; // id_token, access token and session lifetime of the test tenant, seconds


let gh: TestGatehouse;
let second: Gatehouse | undefined;
beforeAll(async () => {
  gh = await startTestGatehouse({ keySchedule: { intervalMs: 200, skewSeconds: 1 } });
  second = await startSecondNode(gh);
}, 60_000);
afterAll(async () => {
  await second?.close();
  await gh?.stop();
});

async function until<T>(probe: () => Promise<T | undefined | false>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(100);
  }
}

const kidsOf = async (url: string) => ((await (await fetch(url)).json()).keys as { kid: string }[]).map((k) => k.kid);

describe('scheduled signing-key rotation', () => {
  let tenant: Tenant;
  beforeAll(async () => {
    tenant = await gh.tenant();
    tenant = await changeTenantSettings(gh.deps, tenant, { settings: { id_token_ttl: TTL, access_token_ttl: TTL, session_ttl: TTL } }, CLI_ACTOR);
    // The key signed nothing under the default lifetimes, so nothing holds it (see the test below).
    await gh.deps.db('signing_keys').where({ tenant_id: tenant.id }).update({ keep_until: null });
  });

  it('does nothing, in one query, when no key is due', async () => {
    // On a transaction of its own, so the queries counted are this pass's, not those of the nodes' timers.
    let queries = 0;
    await gh.deps.db.transaction(async (trx) => {
      trx.on('query', (q: { sql: string }) => { if (!q.sql.startsWith('COMMIT')) queries++; });
      expect(await runKeySchedule({ ...gh.deps, db: trx })).toEqual({ rotated: [], retired: [], staged: [], deferred: 0 });
    });
    expect(queries).toBe(1);
  });

  it('rotates a due key once on two nodes, keeps the old key in JWKS until its tokens expired, and no client notices', async () => {
    const issuer = `${gh.url}/t/${tenant.slug}`;
    const app = await gh.client(tenant, { grant_types: ['authorization_code', 'refresh_token'] });
    const user = await gh.user(tenant);
    // One relying party for the whole test, as a deployed app is: it discovers once and keeps its JWKS cache.
    const rp = await RelyingParty.discover({ issuer, ...app });
    const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/jwks`), { cooldownDuration: 1000 });
    const before = await rp.login(user);
    const oldKid = jose.decodeProtectedHeader(before.id_token!).kid!;
    await jose.jwtVerify(before.id_token!, jwks, { issuer, audience: app.clientId });

    // A client's copy of JWKS from before the rotation, never fetched again: it holds the next key.
    const held = (await (await fetch(`${issuer}/jwks`)).json()) as jose.JSONWebKeySet;
    const db = gh.deps.db;
    const [{ kid: nextKid }] = await db('signing_keys').where({ tenant_id: tenant.id, status: 'next' }).select('kid');
    expect(held.keys.map((k) => k.kid)).toEqual([oldKid, nextKid]);

    // The current key was made 91 days ago: the default key_rotation_days (90) has passed.
    await db('signing_keys').where({ tenant_id: tenant.id, status: 'current' }).update({ created_at: db.raw("now() - interval '91 days'") });
    const rotated = await until(async () => (await db('audit_events').where({ tenant_id: tenant.id, type: 'key.rotated' })).length > 0, 20_000);
    expect(rotated).toBe(true);
    await sleep(1500); // several more passes of both schedulers: none may rotate again

    const events = await db('audit_events').where({ tenant_id: tenant.id, type: 'key.rotated' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: 'system:scheduler', outcome: 'success' });
    expect(events[0].subject).toMatch(/^key:/);
    const newKid = (events[0].subject as string).slice('key:'.length);
    expect(newKid).toBe(nextKid);
    const keys = await db('signing_keys').where({ tenant_id: tenant.id }).orderByRaw(`case status when 'previous' then 0 when 'current' then 1 else 2 end`);
    expect(keys.map((k: any) => [k.kid, k.status])).toEqual([[oldKid, 'previous'], [newKid, 'current'], [expect.any(String), 'next']]);

    // Every node publishes both keys (the second learns of the rotation through the change feed),
    // and the token signed before the rotation still verifies against the JWKS after it.
    for (const node of [gh.url, second?.url].filter(Boolean) as string[]) {
      const kids = await until(async () => {
        const k = await kidsOf(`${node}/t/${tenant.slug}/jwks`);
        return k.includes(newKid) && k;
      }, 10_000);
      expect(kids).toEqual(expect.arrayContaining([oldKid, newKid]));
    }
    await jose.jwtVerify(before.id_token!, jwks, { issuer, audience: app.clientId });

    // After the rotation: a refresh and a new login are signed with the new key, and the same client accepts both.
    const refreshed = await rp.refresh(before.refresh_token!);
    const after = await rp.login(user);
    for (const t of [refreshed, after]) {
      expect(jose.decodeProtectedHeader(t.id_token!).kid).toBe(newKid);
      await jose.jwtVerify(t.id_token!, jwks, { issuer, audience: app.clientId });
      await jose.jwtVerify(t.id_token!, jose.createLocalJWKSet(held), { issuer, audience: app.clientId });
    }

    // Once every token the old key signed has expired and its sessions ended (TTL + the 1 s margin), the key leaves JWKS on every node.
    await until(async () => !(await kidsOf(`${issuer}/jwks`)).includes(oldKid), TTL * 1000 + 20_000);
    const rotatedAt = new Date(keys[0].rotated_at).getTime();
    expect(Date.now() - rotatedAt).toBeGreaterThanOrEqual((TTL + 1) * 1000 - 1000); // not before (database and test clocks may differ slightly)
    if (second) await until(async () => !(await kidsOf(`${second!.url}/t/${tenant.slug}/jwks`)).includes(oldKid), 10_000);
    expect(await kidsOf(`${issuer}/jwks`)).toContain(newKid);
    const retired = await db('audit_events').where({ tenant_id: tenant.id, type: 'key.retired' });
    expect(retired).toHaveLength(1);
    expect(retired[0]).toMatchObject({ actor: 'system:scheduler', details: { kids: [oldKid] } });
    await expect(jose.jwtVerify(before.id_token!, jose.createLocalJWKSet(await (await fetch(`${issuer}/jwks`)).json()), { issuer })).rejects.toThrow(jose.errors.JWKSNoMatchingKey);
  }, 120_000);

  it('keeps a key in JWKS for the lifetimes its tokens were issued under when they are shortened later, before or after its rotation', async () => {
    const db = gh.deps.db;
    const previousOf = async (t: Tenant) => (await db('signing_keys').where({ tenant_id: t.id, status: 'previous' }).select('kid')).map((r: { kid: string }) => r.kid);
    for (const shortenFirst of [false, true]) {
      let t = await gh.tenant(); // default lifetimes: tokens of an hour, sessions of days
      const [{ kid: old }] = await db('signing_keys').where({ tenant_id: t.id, status: 'current' }).select('kid');
      const shorten = async () => { t = await changeTenantSettings(gh.deps, t, { settings: { id_token_ttl: 60, access_token_ttl: 60, session_ttl: 60 } }, CLI_ACTOR); };
      if (shortenFirst) await shorten();
      await rotateSigningKey(gh.deps, t, undefined, CLI_ACTOR);
      if (!shortenFirst) await shorten();
      // Ten minutes later by the new lifetimes (60 s + 1 s of skew) it would have gone; tokens it
      // signed under the old ones (an hour) still live.
      await db('signing_keys').where({ tenant_id: t.id, kid: old }).update({ rotated_at: db.raw("now() - interval '10 minutes'") });
      await sleep(600); // three scheduler passes on each node
      expect(await previousOf(t)).toEqual([old]);
      expect(await kidsOf(`${gh.url}/t/${t.slug}/jwks`)).toContain(old);
      // Once the old lifetimes have passed too, it goes.
      await db('signing_keys').where({ tenant_id: t.id, kid: old }).update({ keep_until: db.raw("now() - interval '1 second'") });
      await until(async () => (await previousOf(t)).length === 0, 10_000);
      expect(await db('audit_events').where({ tenant_id: t.id, type: 'key.retired' })).toHaveLength(1);
    }
  });

  it('leaves a tenant with key_rotation_days 0 alone however old its key', async () => {
    let t = await gh.tenant();
    t = await changeTenantSettings(gh.deps, t, { settings: { key_rotation_days: 0 } }, CLI_ACTOR);
    const db = gh.deps.db;
    await db('signing_keys').where({ tenant_id: t.id }).update({ created_at: db.raw("now() - interval '3650 days'") });
    await sleep(1000);
    expect(await db('audit_events').where({ tenant_id: t.id, type: 'key.rotated' })).toHaveLength(0);
    expect(await db('signing_keys').where({ tenant_id: t.id, status: 'current' })).toHaveLength(1);
  });
});

describe('rotations of one tenant at the same instant', () => {
  it('leave exactly one current key, every one of them audited', async () => {
    const t = await gh.tenant();
    const db = gh.deps.db;
    const rotated = await Promise.all(Array.from({ length: 6 }, () => rotateSigningKey(gh.deps, t, undefined, CLI_ACTOR)));
    expect(new Set(rotated.map((r) => r.kid)).size).toBe(6);
    const current = await db('signing_keys').where({ tenant_id: t.id, status: 'current' });
    expect(current.map((k) => k.kid)).toEqual([expect.any(String)]);
    expect(rotated.map((r) => r.kid)).toContain(current[0].kid);
    expect(await db('audit_events').where({ tenant_id: t.id, type: 'key.rotated' })).toHaveLength(6);
    // JWKS publishes the one current key and the keys it replaced.
    const kids = await kidsOf(`${gh.url}/t/${t.slug}/jwks`);
    expect(kids).toContain(current[0].kid);
  });
});
