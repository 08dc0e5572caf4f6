import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as jose from 'jose';
import { CLI_ACTOR } from '../../../src/deps.js';
import { insertClient } from '../../../src/domain/clients/clients.queries.js';
import { assignClientRoles } from '../../../src/domain/clients/clients.service.js';
import { runKeySchedule, scheduleKeyRotation } from '../../../src/domain/keys/key-schedule.js';
import { rotateSigningKey, rotateSigningKeyIn } from '../../../src/domain/keys/keys.service.js';
import { insertRole } from '../../../src/domain/rbac/rbac.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { Secrets } from '../../../src/security/secrets.js';
import { RelyingParty } from '../../support/relying-party.js';
import { until } from '../../support/until.js';

let gh: TestGatehouse;
let tenant: Tenant;
let issuer: string;
const API = 'https://api.example.com/orders';

async function resourceWithRole(t: Tenant, permissions: string[], granted: string[], roleName: string) {
  const db = gh.deps.db;
  const resourceId = randomUUID();
  await db('resources').insert({ tenant_id: t.id, id: resourceId, identifier: API, name: 'Orders' });
  await db('permissions').insert(permissions.map((name) => ({ tenant_id: t.id, resource_id: resourceId, name })));
  const role = await insertRole(db, t.id, { name: roleName });
  await db('role_permissions').insert(granted.map((permission) => ({ tenant_id: t.id, role_id: role.id, resource_id: resourceId, permission })));
}

beforeAll(async () => {
  gh = await startTestGatehouse();
  tenant = await gh.tenant();
  issuer = `${gh.url}/t/${tenant.slug}`;
  await resourceWithRole(tenant, ['read:orders', 'write:orders'], ['read:orders'], 'order-reader');
});
afterAll(() => gh.stop());

describe('client_credentials with resource indicators', () => {
  it('issues an RFC 9068 JWT access token whose scope is requested ∩ granted', async () => {
    const app = await gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] }, ['order-reader']);
    const rp = await RelyingParty.discover({ issuer, ...app });
    const tokens = await rp.clientCredentials({ resource: API, scope: 'read:orders write:orders' });
    expect(tokens.scope).toBe('read:orders');
    const header = jose.decodeProtectedHeader(tokens.access_token);
    expect(header.typ).toBe('at+jwt');
    const { payload } = await jose.jwtVerify(tokens.access_token, jose.createRemoteJWKSet(new URL(`${issuer}/jwks`)), { issuer, audience: API });
    expect(payload).toMatchObject({ client_id: app.clientId, scope: 'read:orders' });
  });

  it('refuses an unknown resource with invalid_target', async () => {
    const app = await gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] });
    const rp = await RelyingParty.discover({ issuer, ...app });
    await expect(rp.clientCredentials({ resource: 'https://unknown.example.com' })).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('issues an opaque token without a resource, kept in the kv store: introspection, revocation', async () => {
    const app = await gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] });
    const rp = await RelyingParty.discover({ issuer, ...app });
    const tokens = await rp.clientCredentials({});
    expect(tokens.access_token).not.toContain('.');
    expect(await rp.introspect(tokens.access_token)).toMatchObject({ active: true, client_id: app.clientId, token_type: 'Bearer' });
    // Not a Postgres row (adapters/index.ts): one pipelined kv write per grant.
    const rows = await gh.deps.db('oidc_payloads').where({ tenant_id: tenant.id, model: 'ClientCredentials' });
    expect(rows).toEqual([]);
    await rp.revoke(tokens.access_token);
    expect(await rp.introspect(tokens.access_token)).toMatchObject({ active: false });
  });

  it("lets a client revoke only its own tokens, and a public client introspect only its own (RFC 7009 §2.1, RFC 7662 §4)", async () => {
    const machine = { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] };
    const owner = await RelyingParty.discover({ issuer, ...(await gh.client(tenant, machine)) });
    const other = await RelyingParty.discover({ issuer, ...(await gh.client(tenant, machine)) });
    const { access_token: token } = await owner.clientCredentials({});
    await expect(other.revoke(token)).rejects.toMatchObject({ error: 'invalid_request', error_description: 'client is not authorized to revoke the presented token' });
    expect(await owner.introspect(token)).toMatchObject({ active: true });
    // A confidential client (a resource server) may introspect the tenant's tokens.
    expect(await other.introspect(token)).toMatchObject({ active: true, client_id: owner.options.clientId });
    const form = (path: string, body: Record<string, string>) => fetch(`${issuer}/token/${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
    const web = await gh.client(tenant, { token_endpoint_auth_method: 'none' });
    expect(await (await form('introspection', { token, client_id: web.clientId })).json()).toEqual({ active: false });
    expect((await form('revocation', { token, client_id: web.clientId })).status).toBe(200);
    expect(await owner.introspect(token)).toMatchObject({ active: true });
    await owner.revoke(token);
    expect(await owner.introspect(token)).toMatchObject({ active: false });
  });

  it('stores client secrets only as a hash', async () => {
    const app = await gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] });
    const row = await gh.deps.db('clients').where({ tenant_id: tenant.id, client_id: app.clientId }).first();
    expect(JSON.stringify(row)).not.toContain(app.clientSecret);
    expect(Buffer.from(app.clientSecret!, 'base64url').length).toBeGreaterThanOrEqual(32);
  });

  it('keeps signing keys encrypted at rest', async () => {
    const rows = await gh.deps.db('signing_keys').where({ tenant_id: tenant.id });
    for (const row of rows) {
      expect(row.private_jwk_encrypted).toMatch(/^v1\./);
      expect(row.private_jwk_encrypted).not.toContain('"d"');
    }
  });
});

describe('key rotation', () => {
  it('signs after a rotation with the key published before it, so a client holding the old JWKS verifies at once', async () => {
    const t = await gh.tenant();
    const iss = `${gh.url}/t/${t.slug}`;
    const app = await gh.client(t, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] });
    await gh.deps.db('resources').insert({ tenant_id: t.id, id: randomUUID(), identifier: API, name: 'Orders' });
    const rp = await RelyingParty.discover({ issuer: iss, ...app });
    // A client's copy of JWKS, fetched before the rotation and never again (jose waits 30 s before
    // it fetches again for an unknown kid; a cache on a timer may wait hours).
    const held = (await (await fetch(`${iss}/jwks`)).json()) as jose.JSONWebKeySet;
    const [current, next] = held.keys.map((k) => k.kid!);
    expect(held.keys).toHaveLength(2);
    // Published for verifying only (RFC 7517 §4.3): the provider never picks it to sign.
    expect(held.keys.map((k) => k.key_ops)).toEqual([undefined, ['verify']]);
    expect(jose.decodeProtectedHeader((await rp.clientCredentials({ resource: API })).access_token)).toMatchObject({ kid: current });

    const rotated = await rotateSigningKey(gh.deps, t, undefined, CLI_ACTOR);
    expect(rotated.kid).toBe(next);
    const token = (await rp.clientCredentials({ resource: API })).access_token;
    expect(jose.decodeProtectedHeader(token)).toMatchObject({ kid: next });
    await jose.jwtVerify(token, jose.createLocalJWKSet(held), { issuer: iss, audience: API, typ: 'at+jwt' });
    // JWKS now: the new current key, a new next key, the old key (previous).
    const keys = (await gh.deps.db('signing_keys').where({ tenant_id: t.id }).select('kid', 'status')).map((k: { kid: string; status: string }) => `${k.kid} ${k.status}`);
    const published = ((await (await fetch(`${iss}/jwks`)).json()).keys as { kid: string }[]).map((k) => k.kid);
    const newNext = keys.find((k) => k.endsWith(' next'))!.split(' ')[0];
    expect(keys.sort()).toEqual([`${current} previous`, `${next} current`, `${newNext} next`].sort());
    expect(published).toEqual([next, newNext, current]);
    const [audited] = await gh.deps.db('audit_events').where({ tenant_id: t.id, type: 'key.rotated' });
    expect(audited).toMatchObject({ subject: `key:${next}`, details: { alg: 'RS256', next_kids: [newNext] } });
  });

  it('signs with a new key of another algorithm while the old one stays in JWKS', async () => {
    const t = await gh.tenant();
    const iss = `${gh.url}/t/${t.slug}`;
    const before = (await (await fetch(`${iss}/jwks`)).json()).keys as { kid: string }[];
    const { kid } = await rotateSigningKey(gh.deps, t, 'ES256', CLI_ACTOR);
    const after = (await (await fetch(`${iss}/jwks`)).json()).keys as { kid: string; alg: string }[];
    expect(after.map((k) => k.kid)).toEqual(expect.arrayContaining([kid, before[0].kid]));
    expect(after.every((k) => !('d' in k))).toBe(true);
    const app = await gh.client(t, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] });
    const rp = await RelyingParty.discover({ issuer: iss, ...app });
    const { id } = await gh.deps.db('resources').insert({ tenant_id: t.id, id: randomUUID(), identifier: API, name: 'Orders' }).returning('id').then((r: any) => r[0]);
    void id;
    const tokens = await rp.clientCredentials({ resource: API });
    expect(jose.decodeProtectedHeader(tokens.access_token)).toMatchObject({ kid, alg: 'ES256' });
    // A valid JWS (R || S, RFC 7518 §3.4) under the published key, checked by jose, not by us.
    const { payload } = await jose.jwtVerify(tokens.access_token, jose.createLocalJWKSet({ keys: after as jose.JWK[] }), { issuer: iss, audience: API, typ: 'at+jwt', algorithms: ['ES256'] });
    expect(payload.client_id).toBe(app.clientId);
  });

  it('keeps RS256 for ID Tokens on an EdDSA tenant (OIDC Core 15.1), rotated with the tenant key', async () => {
    const t = await gh.tenant();
    const iss = `${gh.url}/t/${t.slug}`;
    const jwks = async () => ((await (await fetch(`${iss}/jwks`)).json()).keys as { kid: string; alg: string }[]);
    const [original, originalNext] = await jwks();
    const { kid, rs256Kid } = await rotateSigningKey(gh.deps, t, 'EdDSA', CLI_ACTOR);
    const keys = await jwks();
    // The RS256 companion is the RS256 key published before; the EdDSA key is new; a next key of each follows.
    const companion = keys.find((k) => k.kid === rs256Kid)!;
    expect(companion.kid).toBe(originalNext.kid);
    expect(keys.map((k) => k.alg)).toEqual(['EdDSA', 'RS256', 'EdDSA', 'RS256', 'RS256']);
    expect(keys.map((k) => k.kid)).toEqual([kid, companion.kid, expect.any(String), expect.any(String), original.kid]);
    const discovery = await (await fetch(`${iss}/.well-known/openid-configuration`)).json();
    expect(discovery.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256', 'EdDSA']));

    const user = await gh.user(t);
    const plain = await RelyingParty.discover({ issuer: iss, ...(await gh.client(t)) });
    const tokens = await plain.login(user);
    expect(jose.decodeProtectedHeader(tokens.id_token!)).toMatchObject({ kid: companion.kid, alg: 'RS256' });
    await jose.jwtVerify(tokens.id_token!, jose.createRemoteJWKSet(new URL(`${iss}/jwks`)), { issuer: iss });
    const modern = await RelyingParty.discover({ issuer: iss, ...(await gh.client(t, { id_token_signed_response_alg: 'EdDSA' })) });
    const edToken = (await modern.login(user)).id_token!;
    expect(jose.decodeProtectedHeader(edToken)).toMatchObject({ kid, alg: 'EdDSA' });
    await jose.jwtVerify(edToken, jose.createRemoteJWKSet(new URL(`${iss}/jwks`)), { issuer: iss, algorithms: ['EdDSA'] });

    const next = await rotateSigningKey(gh.deps, t, undefined, CLI_ACTOR);
    expect(next.alg).toBe('EdDSA');
    const after = await jwks();
    expect(after.slice(0, 2).map((k) => k.alg)).toEqual(['EdDSA', 'RS256']);
    expect(after.map((k) => k.kid)).toEqual(expect.arrayContaining([kid, companion.kid, original.kid]));
    expect(jose.decodeProtectedHeader((await plain.login(user)).id_token!)).toMatchObject({ kid: after[1].kid, alg: 'RS256' });
    const [audited] = await gh.deps.db('audit_events').where({ tenant_id: t.id, type: 'key.rotated' }).orderBy('id', 'desc').limit(1);
    expect(audited).toMatchObject({ subject: `key:${after[0].kid}`, details: { alg: 'EdDSA', rs256_kid: after[1].kid } });
  });

  it('audits the keys a rotation takes out of JWKS as key.retired', async () => {
    const t = await gh.tenant();
    const [{ kid: old }] = await gh.deps.db('signing_keys').where({ tenant_id: t.id, status: 'current' }).select('kid');
    await rotateSigningKey(gh.deps, t, undefined, CLI_ACTOR);
    // In one transaction, so no scheduler retires the old key between the two statements.
    const { kid } = await gh.deps.db.transaction(async (trx) => {
      await trx('signing_keys').where({ tenant_id: t.id, kid: old }).update({ rotated_at: trx.raw("now() - interval '30 days'"), keep_until: null });
      return rotateSigningKeyIn(gh.deps, trx, t, undefined, CLI_ACTOR);
    });
    expect(await gh.deps.db('signing_keys').where({ tenant_id: t.id, kid: old }).first()).toMatchObject({ status: 'retired' });
    const events = await gh.deps.db('audit_events').where({ tenant_id: t.id }).whereIn('type', ['key.rotated', 'key.retired']).orderBy('id');
    expect(events.map((e: { type: string; subject: string }) => `${e.type} ${e.subject}`)).toEqual([expect.stringMatching(/^key\.rotated key:/), `key.rotated key:${kid}`, `key.retired key:${old}`]);
    expect(events[2]).toMatchObject({ actor: CLI_ACTOR.id, details: { kids: [old] } });
  });

  /** A tenant whose current key is 91 days old: due for rotation under the default key_rotation_days (90). */
  async function dueTenant() {
    const t = await gh.tenant();
    await gh.deps.db('signing_keys').where({ tenant_id: t.id, status: 'current' }).update({ created_at: gh.deps.db.raw("now() - interval '91 days'") });
    return t;
  }
  const rotations = async (t: Tenant) => (await gh.deps.db('audit_events').where({ tenant_id: t.id, type: 'key.rotated' })).length;

  /** True when a schedule running with `deps` rotates `t` within 10 s. */
  async function scheduleRotates(t: Tenant, deps: Parameters<typeof scheduleKeyRotation>[0]) {
    const schedule = scheduleKeyRotation(deps);
    try {
      return await until(async () => (await rotations(t)) === 1, 10_000);
    } finally {
      await schedule.stop();
    }
  }

  it('runs the key schedule soon after a node starts, not only an interval later', async () => {
    const t = await dueTenant();
    expect(await scheduleRotates(t, { ...gh.deps, config: { ...gh.deps.config, keySchedule: { intervalMs: 3_600_000, firstPassMs: 200 } } })).toBe(true);
  });

  it('makes no key on schedule while its master key does not open the check value (a master-key rotation under way)', async () => {
    const t = await dueTenant();
    const config = { ...gh.deps.config, keySchedule: { intervalMs: 100, firstPassMs: 50 } };
    const stale = scheduleKeyRotation({ ...gh.deps, secrets: new Secrets(randomBytes(32)), config });
    await sleep(1000);
    await stale.stop();
    expect(await rotations(t)).toBe(0);
    // The same schedule with the key that opens it rotates at once.
    expect(await scheduleRotates(t, { ...gh.deps, config })).toBe(true);
  });

  it('publishes a next key beside a current key that has none (a tenant made before next keys), audited', async () => {
    const t = await gh.tenant();
    await gh.deps.db('signing_keys').where({ tenant_id: t.id, status: 'next' }).delete();
    expect((await runKeySchedule(gh.deps)).staged).toContain(t.id);
    const [next] = await gh.deps.db('signing_keys').where({ tenant_id: t.id, status: 'next' }).select('kid', 'alg');
    expect(next).toMatchObject({ alg: 'RS256' });
    expect(((await (await fetch(`${gh.url}/t/${t.slug}/jwks`)).json()).keys as { kid: string }[]).map((k) => k.kid)).toContain(next.kid);
    const [created] = await gh.deps.db('audit_events').where({ tenant_id: t.id, type: 'key.created' });
    expect(created).toMatchObject({ actor: 'system:scheduler', subject: `key:${next.kid}`, details: { kids: [next.kid], status: 'next' } });
    expect((await runKeySchedule(gh.deps)).staged).not.toContain(t.id);
  });

  it('bounds the time one pass spends publishing next keys, rotating due tenants first', async () => {
    const waiting = [await gh.tenant(), await gh.tenant(), await gh.tenant()];
    await gh.deps.db('signing_keys').whereIn('tenant_id', waiting.map((t) => t.id)).where({ status: 'next' }).delete();
    const due = await dueTenant();
    const deps = { ...gh.deps, config: { ...gh.deps.config, keySchedule: { stageBudgetMs: 0 } } };
    const first = await runKeySchedule(deps);
    expect(first.rotated).toContain(due.id); // never put off behind staging
    expect(first.staged).toHaveLength(1); // the budget is spent: one per pass still advances
    expect(first.deferred).toBeGreaterThanOrEqual(2);
    const staged = new Set(first.staged);
    for (let pass = 0; pass < 5 && staged.size < 3; pass++) for (const id of (await runKeySchedule(deps)).staged) staged.add(id);
    expect([...staged].sort()).toEqual(waiting.map((t) => t.id).sort());
    expect(await gh.deps.db('signing_keys').whereIn('tenant_id', waiting.map((t) => t.id)).where({ status: 'next' })).toHaveLength(3);
  });

  it('gives a tenant that moved to EdDSA before RS256 companions a current RS256 key at start', async () => {
    const t = await gh.tenant();
    const iss = `${gh.url}/t/${t.slug}`;
    await rotateSigningKey(gh.deps, t, 'EdDSA', CLI_ACTOR);
    // As such a tenant was: EdDSA current, its RS256 key previous since long ago, no companion.
    let db = gh.deps.db;
    await db('signing_keys').where({ tenant_id: t.id, alg: 'RS256', status: 'current' }).delete();
    await db('signing_keys').where({ tenant_id: t.id, status: 'next' }).delete();
    await db('signing_keys').where({ tenant_id: t.id, status: 'previous' }).update({ rotated_at: new Date(Date.now() - 86_400_000) });
    const old = await db('signing_keys').where({ tenant_id: t.id, alg: 'RS256', status: 'previous' }).first();

    await gh.restart();
    db = gh.deps.db;
    const keys = await db('signing_keys').where({ tenant_id: t.id }).whereIn('status', ['current', 'previous']);
    const added = keys.find((k: { alg: string; status: string }) => k.alg === 'RS256' && k.status === 'current');
    expect(added).toBeTruthy();
    expect(keys.filter((k: { alg: string; status: string }) => k.alg === 'RS256' && k.status === 'current')).toHaveLength(1);
    // The old RS256 key signed ID Tokens until now: its retirement clock starts again.
    expect(Date.now() - new Date(keys.find((k: { kid: string }) => k.kid === old.kid).rotated_at).getTime()).toBeLessThan(60_000);
    const tokens = await (await RelyingParty.discover({ issuer: iss, ...(await gh.client(t)) })).login(await gh.user(t));
    expect(jose.decodeProtectedHeader(tokens.id_token!)).toMatchObject({ kid: added.kid, alg: 'RS256' });
    expect(await db('audit_events').where({ tenant_id: t.id, type: 'key.created', subject: `key:${added.kid}` }).first()).toMatchObject({ details: { alg: 'RS256', reason: 'rs256_required' } });

    await gh.restart(); // idempotent
    db = gh.deps.db;
    expect(await db('signing_keys').where({ tenant_id: t.id, alg: 'RS256', status: 'current' })).toHaveLength(1);
  });
});

describe('a restart', () => {
  it('keeps clients, users, keys and refresh tokens', async () => {
    const t = await gh.tenant();
    const iss = `${gh.url}/t/${t.slug}`;
    const app = await gh.client(t);
    const user = await gh.user(t);
    const rp = await RelyingParty.discover({ issuer: iss, ...app });
    const tokens = await rp.login(user);
    const jwksBefore = await (await fetch(`${iss}/jwks`)).json();
    await gh.restart();
    const rp2 = await RelyingParty.discover({ issuer: iss, ...app });
    expect(await (await fetch(`${iss}/jwks`)).json()).toEqual(jwksBefore);
    const refreshed = await rp2.refresh(tokens.refresh_token!);
    const { payload } = await jose.jwtVerify(refreshed.id_token!, jose.createRemoteJWKSet(new URL(`${iss}/jwks`)), { issuer: iss });
    expect(payload.sub).toBe(user.id);
    await expect(rp2.login(user)).resolves.toHaveProperty('access_token');
  });
});

describe('a public client stored with client_credentials (before registration refused it)', () => {
  it('gets no token: anyone knowing its client_id could mint one with its roles (RFC 6749 §4.4)', async () => {
    const clientId = `legacy-${randomUUID()}`;
    await insertClient(gh.deps.db, tenant.id, clientId, { client_name: 'Legacy SPA', token_endpoint_auth_method: 'none', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, null);
    await assignClientRoles(gh.deps.db, tenant, clientId, ['tenant-admin'], CLI_ACTOR);
    for (const resource of [`${gh.url}/admin`, API]) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, resource }),
      });
      const body = await res.json();
      expect(res.status).toBe(400);
      expect(body).not.toHaveProperty('access_token');
      expect(body.error).toEqual(expect.any(String));
    }
  });
});
