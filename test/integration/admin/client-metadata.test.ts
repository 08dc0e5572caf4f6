import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
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

describe('registration metadata (RFC 7591) the provider supports', () => {
  const keys = async () => {
    const ec = await jose.generateKeyPair('ES256', { extractable: true });
    const rsa = await jose.generateKeyPair('RS256', { extractable: true });
    return {
      ec, rsa,
      jwks: { keys: [{ ...(await jose.exportJWK(ec.publicKey)), kid: 'ec', alg: 'ES256', use: 'sig' }, { ...(await jose.exportJWK(rsa.publicKey)), kid: 'rsa', alg: 'RS256', use: 'sig' }] },
    };
  };
  const assertion = (clientId: string, key: CryptoKey, alg: string, kid: string) =>
    new jose.SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg, kid }).setIssuer(clientId).setSubject(clientId)
      .setAudience(`${gh.url}/t/${tenant.slug}/token`).setIssuedAt().setExpirationTime('1m').sign(key);
  const tokenWith = (clientId: string, clientAssertion: string) =>
    fetch(`${gh.url}/t/${tenant.slug}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials', resource: `${gh.url}/admin`, client_id: clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: clientAssertion,
      }),
    });

  it('lets a private_key_jwt client pin token_endpoint_auth_signing_alg, and holds it to it', async () => {
    const { ec, rsa, jwks } = await keys();
    const created = await api('POST', `/tenants/${tenant.slug}/clients`, {
      client_name: 'Signed', token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256', jwks,
      grant_types: ['client_credentials'], redirect_uris: [], roles: ['tenant-admin'], admin_access: true,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256', roles: ['tenant-admin'] });
    expect(created.body).not.toHaveProperty('client_secret');
    const clientId = created.body.client_id;
    const read = await api('GET', `/tenants/${tenant.slug}/clients/${clientId}`);
    expect(read.body).toMatchObject({ token_endpoint_auth_signing_alg: 'ES256', jwks });

    const es256 = await tokenWith(clientId, await assertion(clientId, ec.privateKey, 'ES256', 'ec'));
    expect(es256.status).toBe(200);
    expect(await es256.json()).toHaveProperty('access_token');
    // Pinned: an assertion signed with the client's own RSA key is refused.
    const rs256 = await tokenWith(clientId, await assertion(clientId, rsa.privateKey, 'RS256', 'rsa'));
    expect(rs256.status).toBe(401);
    expect(await rs256.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('answers a value the provider refuses with 400 problem+json, never 500', async () => {
    const { jwks } = await keys();
    const base = { token_endpoint_auth_method: 'private_key_jwt', jwks, grant_types: ['client_credentials'], redirect_uris: [] };
    for (const alg of ['none', 'HS256', 'ES999', 5, null, ['ES256'], { alg: 'ES256' }]) {
      const res = await api('POST', `/tenants/${tenant.slug}/clients`, { ...base, token_endpoint_auth_signing_alg: alg });
      expect([res.status, res.type]).toEqual([400, expect.stringMatching(/^application\/problem\+json/)]);
      expect(res.body.code).toBe('invalid_client_metadata');
    }
    const created = await api('POST', `/tenants/${tenant.slug}/clients`, base);
    expect(created.status).toBe(201);
    const path = `/tenants/${tenant.slug}/clients/${created.body.client_id}`;
    expect((await api('PATCH', path, { token_endpoint_auth_signing_alg: 'HS256' })).status).toBe(400);
    expect((await api('PATCH', path, { token_endpoint_auth_signing_alg: 'EdDSA' })).body.token_endpoint_auth_signing_alg).toBe('EdDSA');
  });

  it('accepts other standard names and refuses unknown ones, naming them', async () => {
    const ok = await api('POST', `/tenants/${tenant.slug}/clients`, { redirect_uris: ['https://app.example/cb'], initiate_login_uri: 'https://app.example/login', subject_type: 'public' });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ initiate_login_uri: 'https://app.example/login', subject_type: 'public' });
    const unknown = await api('POST', `/tenants/${tenant.slug}/clients`, { redirect_uris: ['https://app.example/cb'], frobnicate: true, token_endpoint_auth_signing_algo: 'ES256' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.code).toBe('invalid_client_metadata');
    expect(fields(unknown).sort()).toEqual(['frobnicate', 'token_endpoint_auth_signing_algo']);
    const patched = await api('PATCH', `/tenants/${tenant.slug}/clients/${ok.body.client_id}`, { frobnicate: true });
    expect([patched.status, fields(patched)]).toEqual([400, ['frobnicate']]);
  });

  it('refuses names Gatehouse sets itself, naming them', async () => {
    for (const body of [{ client_secret: 'mine' }, { client_id: 'mine' }, { client_secret_expires_at: 1 }, { sector_identifier_uri: 'https://app.example/sector.json' }]) {
      const res = await api('POST', `/tenants/${tenant.slug}/clients`, { redirect_uris: ['https://app.example/cb'], ...body });
      expect([res.status, fields(res)]).toEqual([400, Object.keys(body)]);
    }
    const { body: c } = await api('POST', `/tenants/${tenant.slug}/clients`, { redirect_uris: ['https://app.example/cb'] });
    for (const body of [{ token_endpoint_auth_method: 'none' }, { roles: ['tenant-admin'] }]) {
      const res = await api('PATCH', `/tenants/${tenant.slug}/clients/${c.client_id}`, body);
      expect([res.status, fields(res)]).toEqual([400, Object.keys(body)]);
    }
  });
});
