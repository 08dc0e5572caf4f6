import { randomBytes } from 'node:crypto';
import * as jose from 'jose';
import { clientCredentialsToken, type ApiAnswer, systemAdminApi } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

let gh: TestGatehouse;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
let slug: string;
const API = 'https://api.example.com/orders';

beforeAll(async () => {
  gh = await startTestGatehouse();
  api = await systemAdminApi(gh);
  slug = `rbac-${randomBytes(3).toString('hex')}`;
  expect((await api('POST', '/tenants', { slug, name: 'RBAC' })).status).toBe(201);
});
afterAll(() => gh.stop());

const at = (path: string) => `/tenants/${slug}${path}`;

describe('API resources', () => {
  it('registers a resource with permissions and reads, lists, patches and deletes it', async () => {
    const created = await api('POST', at('/resources'), { identifier: 'https://api.example.com/tmp', name: 'Tmp', permissions: [{ name: 'a:b', description: 'A' }] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.any(String), identifier: 'https://api.example.com/tmp', permissions: [{ name: 'a:b', description: 'A' }] });
    const path = at(`/resources/${created.body.id}`);
    expect((await api('GET', path)).body.name).toBe('Tmp');
    const patched = await api('PATCH', path, { name: 'Tmp 2', permissions: [{ name: 'c:d' }] });
    expect(patched.body).toMatchObject({ name: 'Tmp 2', permissions: [{ name: 'c:d', description: null }] });
    expect((await api('GET', at('/resources'))).body.items.map((r: any) => r.identifier)).toContain('https://api.example.com/tmp');
    expect((await api('DELETE', path)).status).toBe(204);
    expect((await api('GET', path)).status).toBe(404);
    expect((await api('DELETE', path)).status).toBe(404);
  });

  it('refuses bad identifiers, reserved and malformed permissions, duplicates and unknown fields', async () => {
    const bad = async (body: unknown) => (await api('POST', at('/resources'), body)).body;
    expect(await bad({ identifier: 'orders', name: 'x' })).toMatchObject({ status: 400, errors: [{ field: 'identifier' }] });
    expect(await bad({ identifier: 'https://a.example/#frag', name: 'x' })).toMatchObject({ status: 400 });
    expect(await bad({ identifier: `${gh.url}/admin`, name: 'x' })).toMatchObject({ status: 400, code: 'reserved_resource' });
    expect(await bad({ identifier: `${gh.url.toUpperCase()}/ADMIN/`, name: 'x' })).toMatchObject({ status: 400, code: 'reserved_resource' });
    expect(await bad({ identifier: 'https://a.example/a b', name: 'x' })).toMatchObject({ status: 400, errors: [{ field: 'identifier' }] });
    expect(await bad({ identifier: 'https://a.example/\\x', name: 'x' })).toMatchObject({ status: 400, errors: [{ field: 'identifier' }] });
    expect(await bad({ identifier: 'https://a.example/', name: 'x', permissions: [{ name: 'openid' }] })).toMatchObject({ status: 400 });
    expect(await bad({ identifier: 'https://a.example/', name: 'x', permissions: [{ name: 'has space' }] })).toMatchObject({ status: 400 });
    expect(await bad({ identifier: 'https://a.example/', name: 'x', permissions: [{ name: 'p' }, { name: 'p' }] })).toMatchObject({ status: 400 });
    expect(await bad({ identifier: 'https://a.example/', name: 'x', extra: 1 })).toMatchObject({ status: 400 });
    expect((await api('POST', at('/resources'), { identifier: 'https://dup.example/', name: 'x' })).status).toBe(201);
    expect(await bad({ identifier: 'https://dup.example/', name: 'y' })).toMatchObject({ status: 409, code: 'resource_exists' });
    expect((await api('GET', at('/resources/not-a-uuid'))).status).toBe(404);
  });
});

describe('roles', () => {
  it('bundles permissions by resource identifier and refuses unknown ones', async () => {
    await api('POST', at('/resources'), { identifier: 'https://api.example.com/r1', name: 'R1', permissions: [{ name: 'read' }] });
    const role = await api('POST', at('/roles'), { name: 'r1-reader', description: 'reads', permissions: [{ resource: 'https://api.example.com/r1', permission: 'read' }] });
    expect(role.status).toBe(201);
    expect(role.body).toMatchObject({ name: 'r1-reader', builtin: false, permissions: [{ resource: 'https://api.example.com/r1', permission: 'read' }] });
    const unknown = await api('POST', at('/roles'), { name: 'r1-writer', permissions: [{ resource: 'https://api.example.com/r1', permission: 'write' }] });
    expect(unknown.body).toMatchObject({ status: 400, code: 'unknown_permission' });
    expect((await api('GET', at('/roles/00000000-0000-4000-8000-000000000000'))).status).toBe(404);
    expect((await api('POST', at('/roles'), { name: 'r1-reader' })).status).toBe(409);
    expect((await api('POST', at('/roles'), { name: 'has space' })).status).toBe(400);
    const renamed = await api('PATCH', at(`/roles/${role.body.id}`), { name: 'r1-viewer', permissions: [] });
    expect(renamed.body).toMatchObject({ name: 'r1-viewer', permissions: [] });
    expect((await api('DELETE', at(`/roles/${role.body.id}`))).status).toBe(204);
  });

  it('keeps built-in roles: tenant-admin cannot be renamed or deleted', async () => {
    const { body } = await api('GET', at('/roles'));
    const admin = body.items.find((r: any) => r.name === 'tenant-admin');
    expect(admin).toMatchObject({ builtin: true });
    expect((await api('DELETE', at(`/roles/${admin.id}`))).body).toMatchObject({ status: 409, code: 'builtin_role' });
    expect((await api('PATCH', at(`/roles/${admin.id}`), { name: 'boss' })).body).toMatchObject({ status: 409, code: 'builtin_role' });
    expect((await api('PATCH', at(`/roles/${admin.id}`), { description: 'Runs the tenant' })).status).toBe(200);
  });
});

describe('RBAC in issued tokens', () => {
  it('scopes tokens by the roles of a user and of their groups, and a change holds on the next token', async () => {
    await api('POST', at('/resources'), { identifier: API, name: 'Orders', permissions: [{ name: 'read:orders' }, { name: 'write:orders' }, { name: 'delete:orders' }] });
    await api('POST', at('/roles'), { name: 'reader', permissions: [{ resource: API, permission: 'read:orders' }] });
    await api('POST', at('/roles'), { name: 'writer', permissions: [{ resource: API, permission: 'write:orders' }] });
    const user = await api('POST', at('/users'), { email: 'ann@example.com', password: 'correct horse battery', email_verified: true });
    expect((await api('PUT', at(`/users/${user.body.id}/roles`), { roles: ['reader'] })).body).toEqual({ roles: ['reader'] });
    const group = await api('POST', at('/groups'), { name: 'Writers', description: 'They write' });
    expect(group.status).toBe(201);
    expect((await api('PUT', at(`/groups/${group.body.id}/roles`), { roles: ['writer'] })).body).toEqual({ roles: ['writer'] });
    expect((await api('PUT', at(`/groups/${group.body.id}/members`), { user_ids: [user.body.id] })).body).toEqual({ user_ids: [user.body.id] });
    expect((await api('GET', at(`/groups/${group.body.id}`))).body).toMatchObject({ name: 'Writers', roles: ['writer'], member_count: 1 });

    const client = await api('POST', at('/clients'), { client_name: 'Web', redirect_uris: ['http://127.0.0.1:9/cb'] });
    const issuer = `${gh.url}/t/${slug}`;
    const rp = await RelyingParty.discover({ issuer, clientId: client.body.client_id, clientSecret: client.body.client_secret, redirectUri: 'http://127.0.0.1:9/cb' });
    const tokens = await rp.login({ email: 'ann@example.com', password: 'correct horse battery' }, { scope: 'openid roles offline_access read:orders write:orders delete:orders', resource: API });
    expect(tokens.claims()!.roles).toEqual(['reader', 'writer']);
    const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/jwks`));
    const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer, audience: API, typ: 'at+jwt' });
    expect(String(payload.scope).split(' ').sort()).toEqual(['read:orders', 'write:orders']);

    // Leaving the group takes its role away from the next token on.
    await api('PUT', at(`/groups/${group.body.id}/members`), { user_ids: [] });
    const next = await rp.refresh(tokens.refresh_token!, { resource: API });
    expect(jose.decodeJwt(next.access_token).scope).toBe('read:orders');
    expect(jose.decodeJwt(next.id_token!).roles).toEqual(['reader']);
  });

  it('scopes client_credentials tokens by the client\'s roles', async () => {
    const client = await api('POST', at('/clients'), { client_name: 'Worker', grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [], roles: ['reader'] });
    const token = await clientCredentialsToken(gh, slug, client.body.client_id, client.body.client_secret, API, 'read:orders write:orders');
    expect(jose.decodeJwt(token)).toMatchObject({ aud: API, scope: 'read:orders', client_id: client.body.client_id });
    await api('PUT', at(`/clients/${client.body.client_id}/roles`), { roles: ['reader', 'writer'] });
    const wider = jose.decodeJwt(await clientCredentialsToken(gh, slug, client.body.client_id, client.body.client_secret, API, 'read:orders write:orders'));
    expect(String(wider.scope).split(' ').sort()).toEqual(['read:orders', 'write:orders']);
  });
});

describe('groups', () => {
  it('refuses unknown members and roles, duplicates, and answers 404 for unknown groups', async () => {
    const g = await api('POST', at('/groups'), { name: 'Ops' });
    expect((await api('POST', at('/groups'), { name: 'Ops' })).body).toMatchObject({ status: 409, code: 'group_exists' });
    const path = at(`/groups/${g.body.id}`);
    expect((await api('PUT', `${path}/members`, { user_ids: ['00000000-0000-4000-8000-000000000000'] })).body).toMatchObject({ status: 400, code: 'unknown_user' });
    expect((await api('PUT', `${path}/members`, { user_ids: ['nope'] })).status).toBe(400);
    expect((await api('PUT', `${path}/roles`, { roles: ['ghost'] })).body).toMatchObject({ status: 400, code: 'unknown_role' });
    expect((await api('PATCH', path, { description: 'Operations' })).body).toMatchObject({ name: 'Ops', description: 'Operations' });
    expect((await api('GET', `${path}/members`)).body).toEqual({ user_ids: [] });
    expect((await api('DELETE', path)).status).toBe(204);
    expect((await api('GET', path)).status).toBe(404);
    expect((await api('PUT', `${path}/members`, { user_ids: [] })).status).toBe(404);
  });

  it('serialises concurrent replacements: the members and roles end as one request set them, never their union', async () => {
    const g = await api('POST', at('/groups'), { name: 'Racers' });
    const members = await Promise.all(Array.from({ length: 6 }, (_, i) => api('POST', at('/users'), { email: `racer${i}@example.com` })));
    const puts = await Promise.all(members.map((m) => api('PUT', at(`/groups/${g.body.id}/members`), { user_ids: [m.body.id] })));
    expect(puts.map((p) => p.status)).toEqual(puts.map(() => 200));
    expect((await api('GET', at(`/groups/${g.body.id}/members`))).body.user_ids).toHaveLength(1);
    const roleNames = ['reader', 'writer'];
    await Promise.all(roleNames.map((r) => api('PUT', at(`/groups/${g.body.id}/roles`), { roles: [r] })));
    expect((await api('GET', at(`/groups/${g.body.id}`))).body.roles).toHaveLength(1);
  });

  it('writes an audit event for every change', async () => {
    const { body } = await api('GET', at('/audit-events?limit=200'));
    const types = new Set(body.items.map((e: any) => e.type));
    for (const t of ['resource.created', 'resource.updated', 'resource.deleted', 'role.created', 'role.updated', 'role.deleted', 'group.created', 'group.members_changed', 'group.deleted', 'role.assigned']) {
      expect(types).toContain(t);
    }
  });
});
