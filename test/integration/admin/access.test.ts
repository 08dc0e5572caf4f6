import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { adminApi, adminToken, clientCredentialsToken } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

let gh: TestGatehouse;
let system: Tenant;
let a: Tenant;
let b: Tenant;
let systemAdmin: string;
let adminOfA: string;

beforeAll(async () => {
  gh = await startTestGatehouse();
  system = (await findTenantBySlug(gh.deps.db, 'system'))!;
  a = await gh.tenant();
  b = await gh.tenant();
  systemAdmin = (await adminToken(gh, system, ['system-admin'])).token;
  adminOfA = (await adminToken(gh, a, ['tenant-admin'])).token;
});
afterAll(() => gh.stop());

describe('admin API access', () => {
  it('answers 401 with a Bearer challenge when no token is sent', async () => {
    const res = await adminApi(gh)('GET', `/tenants/${a.slug}`);
    expect(res.status).toBe(401);
    expect(res.type).toContain('application/problem+json');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('answers an unknown route 404 and another method 405, as problem+json', async () => {
    const api = adminApi(gh, systemAdmin);
    const unknown = await api('GET', '/no-such-thing');
    expect(unknown).toMatchObject({ status: 404, body: { status: 404, code: 'not_found' } });
    expect(unknown.type).toContain('application/problem+json');
    const wrongMethod = await api('PUT', '/tenants');
    expect(wrongMethod).toMatchObject({ status: 405, body: { status: 405, code: 'method_not_allowed' } });
    expect(wrongMethod.type).toContain('application/problem+json');
    expect(wrongMethod.headers.get('allow')).toContain('POST');
    expect((await fetch(`${gh.url}/no-such-thing`)).status).toBe(404); // outside the admin API: unchanged
  });

  it('refuses a forged token with 401 invalid_token', async () => {
    const { privateKey } = await jose.generateKeyPair('RS256');
    const forged = await new jose.SignJWT({ client_id: 'x' })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'forged' })
      .setIssuer(`${gh.url}/t/system`).setSubject('x').setAudience(`${gh.url}/admin`).setIssuedAt().setExpirationTime('5m')
      .sign(privateKey);
    const res = await adminApi(gh, forged)('GET', '/tenants');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(res.body).toMatchObject({ status: 401, code: 'invalid_token' });
  });

  it('refuses a token issued for another resource', async () => {
    await gh.deps.db('resources').insert({ tenant_id: system.id, id: randomUUID(), identifier: 'https://api.example.com/x', name: 'X' });
    const app = await gh.client(system, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] }, ['system-admin']);
    const other = await clientCredentialsToken(gh, 'system', app.clientId, app.clientSecret!, 'https://api.example.com/x');
    expect((await adminApi(gh, other)('GET', '/tenants')).status).toBe(401);
  });

  it('answers 403 to a client without an admin role', async () => {
    const { token } = await adminToken(gh, a, []);
    const res = await adminApi(gh, token)('GET', `/tenants/${a.slug}`);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('forbidden');
  });

  it('lets a tenant-admin act on its own tenant only', async () => {
    const api = adminApi(gh, adminOfA);
    expect((await api('GET', `/tenants/${a.slug}`)).status).toBe(200);
    expect((await api('GET', `/tenants/${b.slug}`)).status).toBe(403);
    expect((await api('POST', `/tenants/${b.slug}/clients`, { client_name: 'x' })).status).toBe(403);
    expect((await api('GET', '/tenants')).status).toBe(403);
    expect((await api('DELETE', `/tenants/${a.slug}`)).status).toBe(403);
  });

  it('lets system-admin act on every tenant', async () => {
    const api = adminApi(gh, systemAdmin);
    expect((await api('GET', `/tenants/${a.slug}`)).body.slug).toBe(a.slug);
    expect((await api('GET', `/tenants/${b.slug}/keys`)).status).toBe(200);
    expect((await api('GET', '/tenants/no-such-tenant')).status).toBe(404);
  });

  it('leaves the system tenant to system-admin: its tenant-admin can neither grant system-admin nor take over an admin client', async () => {
    const { token } = await adminToken(gh, system, ['tenant-admin']);
    const api = adminApi(gh, token);
    const admin = await gh.client(system, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] }, ['system-admin']);
    expect((await api('POST', '/tenants/system/clients', { grant_types: ['client_credentials'], roles: ['system-admin'] })).status).toBe(403);
    expect((await api('POST', `/tenants/system/clients/${admin.clientId}/secret`)).status).toBe(403);
  });

  it('records the acting client as the actor of a change', async () => {
    const api = adminApi(gh, adminOfA);
    const created = await api('POST', `/tenants/${a.slug}/users`, { email: 'actor@example.com' });
    expect(created.status).toBe(201);
    const events = await api('GET', `/tenants/${a.slug}/audit-events?type=user.created`);
    expect(events.body.items[0]).toMatchObject({ type: 'user.created', subject: `user:${created.body.id}`, actor: expect.stringMatching(/^client:/) });
  });
});
