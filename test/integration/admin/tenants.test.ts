import { randomBytes } from 'node:crypto';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

let gh: TestGatehouse;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
const slug = () => `adm-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  gh = await startTestGatehouse();
  api = await systemAdminApi(gh);
});
afterAll(() => gh.stop());

describe('tenants', () => {
  it('creates a tenant (201) and refuses the same slug again (409)', async () => {
    const s = slug();
    const created = await api('POST', '/tenants', { slug: s, name: 'Acme' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ slug: s, name: 'Acme', issuer: `${gh.url}/t/${s}`, access_token_ttl: 3600, lockout: { max_failed_attempts: 5 } });
    const again = await api('POST', '/tenants', { slug: s });
    expect(again.status).toBe(409);
    expect(again.type).toContain('application/problem+json');
    expect(again.body).toMatchObject({ status: 409, code: 'tenant_exists', title: 'Conflict' });
    // The new tenant serves discovery at once.
    expect((await fetch(`${gh.url}/t/${s}/.well-known/openid-configuration`)).status).toBe(200);
  });

  it('refuses an unknown field with 400 naming it', async () => {
    const res = await api('POST', '/tenants', { slug: slug(), colour: 'red' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.errors)).toContain('colour');
  });

  it('refuses a bad slug with 400 listing the field', async () => {
    const res = await api('POST', '/tenants', { slug: 'Bad Slug!' });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'slug' })]);
  });

  it('answers malformed JSON with 400 and an oversized body with 413', async () => {
    const bad = await api('POST', '/tenants', '{"slug": ');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('malformed_json');
    const big = await api('POST', '/tenants', { slug: slug(), name: 'x'.repeat(70 * 1024) });
    expect(big.status).toBe(413);
  });

  it('patches a subset of settings, merging nested objects, and validates numbers', async () => {
    const s = slug();
    await api('POST', '/tenants', { slug: s });
    const patched = await api('PATCH', `/tenants/${s}`, { access_token_ttl: 600, lockout: { max_failed_attempts: 3 } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ access_token_ttl: 600, id_token_ttl: 3600, lockout: { max_failed_attempts: 3, window_seconds: 900, duration_seconds: 900 } });
    expect((await api('PATCH', `/tenants/${s}`, { access_token_ttl: -1 })).status).toBe(400);
    expect((await api('PATCH', `/tenants/${s}`, { lockout: { max_failed_attempts: 1.5 } })).status).toBe(400);
    expect((await api('GET', `/tenants/${s}`)).body.access_token_ttl).toBe(600);
  });

  it('answers rate_limits with their defaults, patches any part of them, and validates every number', async () => {
    const s = slug();
    const created = await api('POST', '/tenants', { slug: s });
    expect(created.body.rate_limits).toEqual({
      login_per_ip: { limit: 20, window_seconds: 60 },
      login_per_account: { limit: 10, window_seconds: 60 },
      client_auth_failures: { limit: 20, window_seconds: 60 },
      mail_per_address: { limit: 3, window_seconds: 900 },
    });
    const patched = await api('PATCH', `/tenants/${s}`, { rate_limits: { login_per_ip: { limit: 5 }, mail_per_address: { window_seconds: 3600 } } });
    expect(patched.status).toBe(200);
    expect(patched.body.rate_limits).toEqual({
      login_per_ip: { limit: 5, window_seconds: 60 },
      login_per_account: { limit: 10, window_seconds: 60 },
      client_auth_failures: { limit: 20, window_seconds: 60 },
      mail_per_address: { limit: 3, window_seconds: 3600 },
    });
    expect((await api('PATCH', `/tenants/${s}`, { rate_limits: { login_per_account: { limit: 0 } } })).body.rate_limits.login_per_account).toEqual({ limit: 0, window_seconds: 60 });
    for (const bad of [
      { login_per_ip: { limit: -1 } }, { login_per_ip: { window_seconds: 0 } }, { client_auth_failures: { limit: 2.5 } },
      { mail_per_address: { window_seconds: -60 } }, { login_per_ip: { limit: '5' } }, { login_per_ip: { burst: 1 } }, { per_planet: { limit: 1 } },
    ]) {
      const res = await api('PATCH', `/tenants/${s}`, { rate_limits: bad });
      expect(res.status).toBe(400);
      expect(res.body.errors[0].field).toMatch(/^rate_limits/);
    }
    expect((await api('GET', `/tenants/${s}`)).body.rate_limits.login_per_ip).toEqual({ limit: 5, window_seconds: 60 });
  });

  it('gives a tenant stored before rate_limits existed their defaults', async () => {
    const s = slug();
    await api('POST', '/tenants', { slug: s });
    const row = await gh.deps.db('tenants').where({ slug: s }).first();
    const { rate_limits: _dropped, ...older } = typeof row.settings === 'string' ? JSON.parse(row.settings) : row.settings;
    await gh.deps.db('tenants').where({ slug: s }).update({ settings: JSON.stringify({ ...older, lockout: { max_failed_attempts: 4 } }) });
    const res = await api('GET', `/tenants/${s}`);
    expect(res.body.rate_limits.client_auth_failures).toEqual({ limit: 20, window_seconds: 60 });
    expect(res.body.lockout).toEqual({ max_failed_attempts: 4, window_seconds: 900, duration_seconds: 900 });
    const patched = await api('PATCH', `/tenants/${s}`, { rate_limits: { client_auth_failures: { limit: 7 } } });
    expect(patched.body.rate_limits).toMatchObject({ client_auth_failures: { limit: 7, window_seconds: 60 }, login_per_ip: { limit: 20, window_seconds: 60 } });
  });

  it('pages the tenant list with next_cursor', async () => {
    for (let i = 0; i < 3; i++) await api('POST', '/tenants', { slug: slug() });
    const first = await api('GET', '/tenants?limit=2');
    expect(first.body.items).toHaveLength(2);
    expect(typeof first.body.next_cursor).toBe('string');
    const second = await api('GET', `/tenants?limit=2&cursor=${first.body.next_cursor}`);
    const seen = [...first.body.items, ...second.body.items].map((t: { slug: string }) => t.slug);
    expect(new Set(seen).size).toBe(seen.length);
    expect((await api('GET', '/tenants?cursor=not-a-cursor')).status).toBe(400);
    const all = await api('GET', '/tenants?limit=200');
    expect(all.body.next_cursor).toBeNull();
  });

  it('deletes a tenant but never the system tenant', async () => {
    const s = slug();
    await api('POST', '/tenants', { slug: s });
    expect((await api('DELETE', `/tenants/${s}`)).status).toBe(204);
    expect((await api('GET', `/tenants/${s}`)).status).toBe(404);
    expect((await fetch(`${gh.url}/t/${s}/.well-known/openid-configuration`)).status).toBe(404);
    const sys = await api('DELETE', '/tenants/system');
    expect(sys.status).toBe(409);
    const events = await api('GET', '/tenants/system/audit-events?type=tenant.deleted');
    expect(events.body.items[0]).toMatchObject({ type: 'tenant.deleted', subject: `tenant:${s}` });
  });

  it('serves an OpenAPI 3.1 document', async () => {
    const res = await fetch(`${gh.url}/admin/v1/openapi.json`);
    const doc = await res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.paths['/tenants/{slug}/clients/{client_id}']).toHaveProperty('patch');
  });
});
