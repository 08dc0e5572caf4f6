import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as jose from 'jose';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { adminApi, clientCredentialsToken, systemAdminApi } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

// Security review, issue 9 #4: an ordinary client took over a tenant through its admin's login.
describe('only clients with admin_access obtain admin-API tokens', () => {
  let gh: TestGatehouse;
  let tenant: Tenant;
  let admin: { id: string; email: string; password: string };
  let asSystem: Awaited<ReturnType<typeof systemAdminApi>>;
  const adminResource = () => `${gh.url}/admin`;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    tenant = await gh.tenant();
    admin = await gh.user(tenant, { roles: ['tenant-admin'] });
    asSystem = await systemAdminApi(gh);
  });
  afterAll(() => gh.stop());

  const rpFor = async (t: Tenant, metadata: Record<string, unknown> = {}) => {
    const app = await gh.client(t, metadata);
    return { app, rp: await RelyingParty.discover({ issuer: `${gh.url}/t/${t.slug}`, ...app }) };
  };

  it('refuses resource=<admin> at the authorization endpoint for an ordinary client', async () => {
    const { rp, app } = await rpFor(tenant);
    const { at } = await rp.startLogin({ scope: 'openid', resource: adminResource() });
    expect(at.startsWith(app.redirectUri)).toBe(true);
    expect(new URL(at).searchParams.get('error')).toBe('invalid_target');
  });

  it('refuses it at the token endpoint after a login without it, and on refresh', async () => {
    const { rp } = await rpFor(tenant);
    const { callback, verifier, state } = await rp.authorize(admin, { scope: 'openid offline_access' });
    await expect(rp.redeem(callback, verifier, state, { resource: adminResource() })).rejects.toMatchObject({ error: 'invalid_target' });
    const tokens = await rp.login(admin, { scope: 'openid offline_access' });
    await expect(rp.refresh(tokens.refresh_token!, { resource: adminResource() })).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('refuses client_credentials for the admin resource to a tenant-admin client without admin_access', async () => {
    const app = await gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] }, ['tenant-admin']);
    await expect(clientCredentialsToken(gh, tenant.slug, app.clientId, app.clientSecret!)).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('refuses the same attack in the system tenant', async () => {
    const system = (await findTenantBySlug(gh.deps.db, 'system'))!;
    const root = await gh.user(system, { roles: ['system-admin'] });
    const { rp, app } = await rpFor(system);
    const { at } = await rp.startLogin({ scope: 'openid', resource: adminResource() });
    expect(new URL(at).searchParams.get('error')).toBe('invalid_target');
    expect(at.startsWith(app.redirectUri)).toBe(true);
    expect(root.id).toBeTruthy();
  });

  it('gives an admin_access client a user token that shows on consent, and ends it when admin_access goes', async () => {
    const { rp, app } = await rpFor(tenant, { admin_access: true });
    const start = await rp.startLogin({ scope: 'openid', resource: adminResource() });
    expect(start.html).toContain('name="password"');
    const tokens = await rp.login(admin, { scope: 'openid', resource: adminResource() });
    const claims = jose.decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ aud: adminResource(), client_id: app.clientId, sub: admin.id });
    expect(String(claims.scope ?? '')).not.toContain('gatehouse:admin'); // the consent mark stays in the grant
    const asUser = adminApi(gh, tokens.access_token);
    expect((await asUser('GET', `/tenants/${tenant.slug}`)).status).toBe(200);
    // A tenant-admin may take admin_access away from a client of its tenant; its tokens stop at once.
    const patched = await asSystem('PATCH', `/tenants/${tenant.slug}/clients/${app.clientId}`, { admin_access: false });
    expect(patched.status).toBe(200);
    expect((await asUser('GET', `/tenants/${tenant.slug}`)).status).toBe(401);
    await expect(rp.refresh(tokens.refresh_token ?? '', { resource: adminResource() })).rejects.toBeDefined();
  });

  it('names the admin API on the consent page', async () => {
    const { rp } = await rpFor(tenant, { admin_access: true });
    const { callback } = await rp.authorize(admin, { scope: 'openid', resource: adminResource() }).catch(() => ({ callback: undefined }));
    expect(callback).toBeDefined();
    // The consent page of a fresh client: log in, stop at consent.
    const other = await rpFor(tenant, { admin_access: true });
    const start = await other.rp.startLogin({ scope: 'openid', resource: adminResource() });
    const { csrfOf } = await import('../../support/browser.js');
    const res = await other.rp.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email: admin.email, password: admin.password });
    const next = await other.rp.browser.follow(new URL(res.headers.get('location')!, start.at).toString(), gh.url);
    const html = await next.res.text();
    expect(html).toContain('name="decision"');
    expect(html).toMatch(/admin API/);
  });

  it('asks consent for the admin API once per grant, even with prompt=none', async () => {
    const { rp, app } = await rpFor(tenant, { admin_access: true });
    await rp.login(admin, { scope: 'openid' });
    const silent = await rp.startLogin({ scope: 'openid', resource: adminResource(), prompt: 'none' });
    expect(silent.at.startsWith(app.redirectUri)).toBe(true);
    expect(new URL(silent.at).searchParams.get('error')).toBe('consent_required');
  });

  it('refuses an admin token whose client was deleted', async () => {
    const created = await asSystem('POST', `/tenants/${tenant.slug}/clients`, { client_name: 'ops', grant_types: ['client_credentials'], redirect_uris: [], roles: ['tenant-admin'], admin_access: true });
    expect(created.status).toBe(201);
    const token = await clientCredentialsToken(gh, tenant.slug, created.body.client_id, created.body.client_secret);
    expect((await adminApi(gh, token)('GET', `/tenants/${tenant.slug}`)).status).toBe(200);
    expect((await asSystem('DELETE', `/tenants/${tenant.slug}/clients/${created.body.client_id}`)).status).toBe(204);
    expect((await adminApi(gh, token)('GET', `/tenants/${tenant.slug}`)).status).toBe(401);
  });
});
