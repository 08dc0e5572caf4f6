import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { adminApi, clientCredentialsToken, type ApiAnswer, systemAdminApi } from '../../support/admin.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

let gh: TestGatehouse;
let tenant: Tenant;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
const secrets: string[] = [];

beforeAll(async () => {
  gh = await startTestGatehouse();
  tenant = await gh.tenant();
  api = await systemAdminApi(gh);
});
afterAll(() => gh.stop());

describe('clients', () => {
  const machine = { client_name: 'Billing', grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [], roles: ['tenant-admin'], admin_access: true };

  it('returns the secret once at creation and never on GET; the client works at once', async () => {
    const created = await api('POST', `/tenants/${tenant.slug}/clients`, machine);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ client_id: expect.any(String), client_secret: expect.any(String), client_name: 'Billing', roles: ['tenant-admin'] });
    secrets.push(created.body.client_secret);
    const read = await api('GET', `/tenants/${tenant.slug}/clients/${created.body.client_id}`);
    expect(read.status).toBe(200);
    expect(read.body).not.toHaveProperty('client_secret');
    expect(JSON.stringify(read.body)).not.toContain(created.body.client_secret);
    const token = await clientCredentialsToken(gh, tenant.slug, created.body.client_id, created.body.client_secret);
    // Its tenant-admin role opens its own tenant at once.
    expect((await adminApi(gh, token)('GET', `/tenants/${tenant.slug}`)).status).toBe(200);
  });

  it('lists clients without secrets', async () => {
    const res = await api('GET', `/tenants/${tenant.slug}/clients?limit=1`);
    expect(res.body.items).toHaveLength(1);
    expect(JSON.stringify(res.body)).not.toMatch(/secret"/);
  });

  it('rotates a secret: the new one works, the old one stops', async () => {
    const { body: c } = await api('POST', `/tenants/${tenant.slug}/clients`, machine);
    const rotated = await api('POST', `/tenants/${tenant.slug}/clients/${c.client_id}/secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.client_secret).not.toBe(c.client_secret);
    secrets.push(c.client_secret, rotated.body.client_secret);
    await expect(clientCredentialsToken(gh, tenant.slug, c.client_id, c.client_secret)).rejects.toMatchObject({ error: 'invalid_client' });
    await expect(clientCredentialsToken(gh, tenant.slug, c.client_id, rotated.body.client_secret)).resolves.toEqual(expect.any(String));
  });

  it('patches metadata, replaces roles, refuses unknown roles, and deletes', async () => {
    const { body: c } = await api('POST', `/tenants/${tenant.slug}/clients`, { ...machine, roles: [] });
    const path = `/tenants/${tenant.slug}/clients/${c.client_id}`;
    expect((await api('PATCH', path, { client_name: 'Renamed' })).body.client_name).toBe('Renamed');
    expect((await api('PATCH', path, { client_secret: 'mine' })).status).toBe(400);
    expect((await api('PUT', `${path}/roles`, { roles: ['tenant-admin'] })).body).toEqual({ roles: ['tenant-admin'] });
    const unknown = await api('PUT', `${path}/roles`, { roles: ['nope'] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.code).toBe('unknown_role');
    expect((await api('DELETE', path)).status).toBe(204);
    expect((await api('GET', path)).status).toBe(404);
  });

  it('refuses client metadata the provider would refuse', async () => {
    const res = await api('POST', `/tenants/${tenant.slug}/clients`, { grant_types: ['authorization_code'], redirect_uris: [] });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('invalid_client_metadata');
    const implicit = await api('POST', `/tenants/${tenant.slug}/clients`, { redirect_uris: ['https://app.example/cb'], response_types: ['id_token'] });
    expect(implicit.status).toBe(400);
    expect(implicit.body.code).toBe('invalid_client_metadata');
  });

  it('lists client.created in the audit events, newest first', async () => {
    const res = await api('GET', `/tenants/${tenant.slug}/audit-events`);
    expect(res.status).toBe(200);
    const types = res.body.items.map((e: { type: string }) => e.type);
    expect(types).toContain('client.created');
    const ids = res.body.items.map((e: { id: number }) => e.id);
    expect(ids).toEqual([...ids].sort((x, y) => y - x));
    expect(res.body.items[0]).toEqual(expect.objectContaining({ at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), hash: expect.any(String), prev_hash: expect.any(String) }));
    const filtered = await api('GET', `/tenants/${tenant.slug}/audit-events?type=client.created&limit=1`);
    expect(filtered.body.items).toHaveLength(1);
    expect(filtered.body.next_cursor).toEqual(expect.any(String));
    const next = await api('GET', `/tenants/${tenant.slug}/audit-events?type=client.created&limit=1&cursor=${filtered.body.next_cursor}`);
    expect(next.body.items[0].id).toBeLessThan(filtered.body.items[0].id);
  });
});

describe('users', () => {
  it('creates a user without ever answering a password hash, and refuses a duplicate', async () => {
    const res = await api('POST', `/tenants/${tenant.slug}/users`, { email: 'Alice.Smith@example.com', password: 'correct horse battery', name: 'Alice Smith' });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(['created_at', 'disabled', 'email', 'email_verified', 'family_name', 'given_name', 'groups', 'id', 'name', 'roles', 'updated_at']);
    expect((await api('POST', `/tenants/${tenant.slug}/users`, { email: 'alice.smith@example.com' })).status).toBe(409);
    expect((await api('POST', `/tenants/${tenant.slug}/users`, { email: 'short@example.com', password: 'x' })).body.code).toBe('password_policy');
  });

  it('searches by email or name prefix and pages the results', async () => {
    for (const [email, name] of [['bob@example.com', 'Bob Jones'], ['bobby@example.com', 'Robert'], ['carol@example.com', 'Bobbie Carol']]) {
      await api('POST', `/tenants/${tenant.slug}/users`, { email, name });
    }
    const all = await api('GET', `/tenants/${tenant.slug}/users?search=bob`);
    expect(all.body.items.map((u: { email: string }) => u.email).sort()).toEqual(['bob@example.com', 'bobby@example.com', 'carol@example.com']);
    const first = await api('GET', `/tenants/${tenant.slug}/users?search=bob&limit=2`);
    expect(first.body.items).toHaveLength(2);
    const second = await api('GET', `/tenants/${tenant.slug}/users?search=bob&limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.items).toHaveLength(1);
    expect(second.body.next_cursor).toBeNull();
    expect((await api('GET', `/tenants/${tenant.slug}/users?search=%25`)).body.items).toEqual([]);
  });

  it('disables a user with PATCH and sets roles and password', async () => {
    const user = await gh.user(tenant);
    const path = `/tenants/${tenant.slug}/users/${user.id}`;
    const patched = await api('PATCH', path, { disabled: true, name: 'Gone' });
    expect(patched.body).toMatchObject({ id: user.id, disabled: true, name: 'Gone' });
    expect((await api('GET', path)).body.disabled).toBe(true);
    const [updated] = (await api('GET', `/tenants/${tenant.slug}/audit-events?type=user.updated`)).body.items;
    expect(updated).toMatchObject({ subject: `user:${user.id}`, details: { fields: ['name', 'disabled'] } });
    expect((await api('PUT', `${path}/roles`, { roles: ['tenant-admin'] })).body.roles).toEqual(['tenant-admin']);
    expect((await api('PUT', `${path}/password`, { password: 'a new long password' })).status).toBe(204);
    expect((await api('PATCH', path, { password_hash: 'x' })).status).toBe(400);
    expect((await api('GET', `/tenants/${tenant.slug}/users/not-a-uuid`)).status).toBe(404);
    expect((await api('DELETE', path)).status).toBe(204);
    expect((await api('GET', path)).status).toBe(404);
  });

  it('rotates keys and lists public parts only', async () => {
    const rotated = await api('POST', `/tenants/${tenant.slug}/keys/rotate`, { alg: 'ES256' });
    expect(rotated.status).toBe(201);
    expect(rotated.body).toMatchObject({ alg: 'ES256', status: 'current', rs256_key: { alg: 'RS256', status: 'current' } });
    expect(JSON.stringify(rotated.body)).not.toMatch(/"d":/);
    const keys = await api('GET', `/tenants/${tenant.slug}/keys`);
    expect(keys.body.items.map((k: { alg: string; status: string }) => `${k.alg} ${k.status}`)).toEqual(['ES256 current', 'RS256 current', 'ES256 next', 'RS256 next', 'RS256 previous']);
    expect(keys.body.items.every((k: { public_jwk: Record<string, unknown> }) => !('d' in k.public_jwk))).toBe(true);
  });

  it('never writes a client secret to the logs', () => {
    const all = logLines.join('\n');
    for (const s of secrets) expect(all).not.toContain(s);
  });
});

// What a change's answer shows beside it (a user's roles and groups, a client's roles) is read in
// the change's transaction: a read failing there (a database outage between the write and the
// read) fails the change as a whole, never after a commit the caller is told failed (an admin
// retrying a "failed" disable would otherwise find it done, or a create answer 409).
describe('a change whose answer cannot be read', () => {
  const outage = () => Object.assign(new Error('the database went away'), { code: '57P01' });

  it('changes nothing, users and clients alike', async () => {
    const { changeUser, createUser } = await import('../../../src/domain/users/users.service.js');
    const { changeClientMetadata } = await import('../../../src/domain/clients/clients.service.js');
    const { CLI_ACTOR } = await import('../../../src/deps.js');
    const { clientValidator } = await import('../../../src/tenancy/validate-client.js');
    const events = async () => Number((await gh.deps.db('audit_events').where({ tenant_id: tenant.id }).count({ n: '*' }).first())!.n);
    const before = await events();

    await expect(createUser(gh.deps, tenant, { email: 'never@example.com', emailVerified: true }, CLI_ACTOR, undefined, async () => { throw outage(); })).rejects.toMatchObject({ code: '57P01' });
    expect(await gh.deps.db('users').where({ tenant_id: tenant.id, email_normalized: 'never@example.com' }).first()).toBeUndefined();

    const user = await createUser(gh.deps, tenant, { email: 'kept@example.com', name: 'Kept', emailVerified: true }, CLI_ACTOR);
    const afterCreate = await events();
    await expect(changeUser(gh.deps, tenant, user.id, { name: 'Changed', disabled: true }, CLI_ACTOR, undefined, undefined, async () => { throw outage(); })).rejects.toMatchObject({ code: '57P01' });
    expect(await gh.deps.db('users').where({ tenant_id: tenant.id, id: user.id }).first('name', 'disabled')).toEqual({ name: 'Kept', disabled: false });

    const client = await gh.client(tenant, { client_name: 'Unchanged' });
    const { findClient } = await import('../../../src/domain/clients/clients.queries.js');
    const record = (await findClient(gh.deps.db, tenant.id, client.clientId))!;
    const afterClient = await events();
    await expect(changeClientMetadata(gh.deps, tenant, record, { client_name: 'Changed' }, CLI_ACTOR, clientValidator(gh.registry), async () => { throw outage(); })).rejects.toMatchObject({ code: '57P01' });
    expect((await gh.deps.db('clients').where({ tenant_id: tenant.id, client_id: client.clientId }).first('metadata')).metadata.client_name).toBe('Unchanged');

    expect(afterCreate).toBe(before + 1); // the created user's event alone
    expect(await events()).toBe(afterClient); // no event of the refused changes
  });
});
