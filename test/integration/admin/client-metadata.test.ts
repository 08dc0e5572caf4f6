import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { type ApiAnswer, systemAdminApi } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

let gh: TestGatehouse;
let tenant: Tenant;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;

beforeAll(async () => {
  gh = await startTestGatehouse();
  tenant = await gh.tenant();
  api = await systemAdminApi(gh);
});
afterAll(() => gh.stop());

const fields = (res: ApiAnswer) => (res.body.errors ?? []).map((e: { field: string }) => e.field);

describe('client_credentials is for confidential clients only (RFC 6749 §4.4)', () => {
  it('refuses a public client holding it at creation, naming grant_types', async () => {
    for (const grant_types of [['client_credentials'], ['authorization_code', 'refresh_token', 'client_credentials']]) {
      const res = await api('POST', `/tenants/${tenant.slug}/clients`, { token_endpoint_auth_method: 'none', grant_types, redirect_uris: ['https://app.example/cb'], roles: ['tenant-admin'] });
      expect(res.status).toBe(400);
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(fields(res)).toEqual(['grant_types']);
    }
    const { body } = await api('GET', `/tenants/${tenant.slug}/clients`);
    expect(body.items).toEqual([]);
  });

  it('refuses a PATCH that gives a public client the grant', async () => {
    const created = await api('POST', `/tenants/${tenant.slug}/clients`, { token_endpoint_auth_method: 'none', redirect_uris: ['https://app.example/cb'] });
    expect(created.status).toBe(201);
    const path = `/tenants/${tenant.slug}/clients/${created.body.client_id}`;
    const res = await api('PATCH', path, { grant_types: ['authorization_code', 'client_credentials'] });
    expect(res.status).toBe(400);
    expect(res.type).toMatch(/^application\/problem\+json/);
    expect(fields(res)).toEqual(['grant_types']);
    expect((await api('GET', path)).body.grant_types).toEqual(['authorization_code', 'refresh_token']);
  });

  it('still gives it to confidential clients', async () => {
    for (const token_endpoint_auth_method of ['client_secret_basic', 'client_secret_post']) {
      const res = await api('POST', `/tenants/${tenant.slug}/clients`, { token_endpoint_auth_method, grant_types: ['client_credentials'], redirect_uris: [] });
      expect(res.status).toBe(201);
    }
  });
});
