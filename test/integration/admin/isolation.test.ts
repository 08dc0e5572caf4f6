import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { adminApi, adminToken, systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

let gh: TestGatehouse;
let a: Tenant;
let b: Tenant;
let asAdminOfA: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
let asSystem: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
/** Every tenant-scoped operation of the OpenAPI document: [method, path template]. */
let operations: [string, string][];
/** Records of tenant B, to name in paths. */
const ofB: Record<string, string> = {};

beforeAll(async () => {
  gh = await startTestGatehouse();
  a = await gh.tenant();
  b = await gh.tenant();
  asAdminOfA = adminApi(gh, (await adminToken(gh, a, ['tenant-admin'])).token);
  asSystem = await systemAdminApi(gh);
  const doc = (await asSystem('GET', '/openapi.json')).body;
  operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .filter(([path]) => path.startsWith('/tenants/{slug}'))
    .flatMap(([path, methods]) => Object.keys(methods).map((m) => [m.toUpperCase(), path] as [string, string]));
  const bPath = `/tenants/${b.slug}`;
  ofB.users = (await asSystem('POST', `${bPath}/users`, { email: 'bob@b.example' })).body.id;
  ofB.clients = (await asSystem('POST', `${bPath}/clients`, { client_name: 'B app', redirect_uris: ['https://b.example/cb'] })).body.client_id;
  ofB.resources = (await asSystem('POST', `${bPath}/resources`, { identifier: 'https://b.example/api', name: 'B', permissions: [{ name: 'read' }] })).body.id;
  ofB.roles = (await asSystem('POST', `${bPath}/roles`, { name: 'b-role' })).body.id;
  ofB.groups = (await asSystem('POST', `${bPath}/groups`, { name: 'b-group' })).body.id;
  ofB['saml-connections'] = 'b-idp';
  ofB['oidc-connections'] = 'b-upstream';
  ofB.sessions = 'b-session';
});
afterAll(() => gh.stop());

/** Fills a path template: `{slug}` with the tenant, every other parameter with B's record of that family. */
function fill(template: string, slug: string) {
  return template.replace(/\/([a-z-]+)\/\{(\w+)\}/g, (_m, family: string, param: string) =>
    `/${family}/${param === 'slug' ? slug : encodeURIComponent(ofB[family] ?? 'x')}`);
}

/** A body each operation would accept, so only the tenant boundary can refuse it. */
function bodyFor(method: string, path: string): unknown {
  if (method === 'GET' || method === 'DELETE') return undefined;
  if (path.endsWith('/roles') && method === 'PUT') return { roles: [] };
  if (path.endsWith('/members')) return { user_ids: [] };
  if (path.endsWith('/password')) return { password: 'a long enough password' };
  if (path.endsWith('/{client_id}')) return { client_name: 'renamed' };
  if (method === 'PATCH' && /\/(users|resources)\//.test(path)) return { name: 'changed' };
  if (method === 'PATCH' && /\/(saml|oidc)-connections\//.test(path)) return { display_name: 'changed' };
  if (method === 'PATCH') return { description: 'changed' };
  return {};
}

describe('tenant isolation across every route family', () => {
  it('documents operations of every family', () => {
    const families = new Set(operations.map(([, p]) => p.split('/')[3]).filter(Boolean));
    for (const f of ['clients', 'users', 'resources', 'roles', 'groups', 'keys', 'audit-events']) expect(families).toContain(f);
  });

  it('refuses a tenant-admin of A every operation on tenant B with 403', async () => {
    const answers = await Promise.all(operations.map(async ([method, path]) => {
      const res = await asAdminOfA(method, fill(path, b.slug), bodyFor(method, path));
      return `${method} ${path} → ${res.status}`;
    }));
    expect(answers.filter((line) => !line.endsWith('→ 403'))).toEqual([]);
  });

  it('never lets A reach B\'s records through A\'s own paths (404, never 2xx)', async () => {
    const recordOps = operations.filter(([, path]) => /\{(id|client_id|name|sid)\}/.test(path));
    expect(recordOps.length).toBeGreaterThan(15);
    const answers = await Promise.all(recordOps.map(async ([method, path]) => {
      const res = await asAdminOfA(method, fill(path, a.slug), bodyFor(method, path));
      return `${method} ${path} → ${res.status}`;
    }));
    expect(answers.filter((line) => !line.endsWith('→ 404'))).toEqual([]);
    // B's records are as they were.
    expect((await asSystem('GET', `/tenants/${b.slug}/users/${ofB.users}`)).body.email).toBe('bob@b.example');
    expect((await asSystem('GET', `/tenants/${b.slug}/clients/${ofB.clients}`)).body.client_name).toBe('B app');
    expect((await asSystem('GET', `/tenants/${b.slug}/roles/${ofB.roles}`)).status).toBe(200);
  });

  it('does not accept a tenant-admin token of A as a token of B, even for a user of B', async () => {
    // A user token: tenant-admin of A, logged in through A's pages with resource=<admin>.
    const user = await gh.user(a, { roles: ['tenant-admin'] });
    const app = await gh.client(a, { admin_access: true });
    const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${a.slug}`, ...app });
    const tokens = await rp.login(user, { scope: 'openid', resource: `${gh.url}/admin` });
    const asUser = adminApi(gh, tokens.access_token);
    expect((await asUser('GET', `/tenants/${a.slug}/users/${user.id}`)).status).toBe(200);
    expect((await asUser('GET', `/tenants/${b.slug}/users`)).status).toBe(403);
    // The same user without the role, or disabled, is refused.
    await asSystem('PUT', `/tenants/${a.slug}/users/${user.id}/roles`, { roles: [] });
    expect((await asUser('GET', `/tenants/${a.slug}`)).status).toBe(403);
    await asSystem('PATCH', `/tenants/${a.slug}/users/${user.id}`, { disabled: true });
    expect((await asUser('GET', `/tenants/${a.slug}`)).status).toBe(401);
  });
});
