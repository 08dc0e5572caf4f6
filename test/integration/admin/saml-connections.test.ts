import { insertRole } from '../../../src/domain/rbac/rbac.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { adminApi, adminToken, systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { fingerprint, IDP_CERT_PEM, IDP_NEXT_CERT_PEM, idpMetadata, keyDescriptor } from '../../support/saml/idp-metadata.js';

type Api = (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
let gh: TestGatehouse;
let tenant: Tenant;
let other: Tenant;
let api: Api;
let ownAdmin: Api;
let otherAdmin: Api;

beforeAll(async () => {
  gh = await startTestGatehouse();
  tenant = await gh.tenant();
  other = await gh.tenant();
  await insertRole(gh.deps.db, tenant.id, { name: 'auditor' });
  api = await systemAdminApi(gh);
  ownAdmin = adminApi(gh, (await adminToken(gh, tenant, ['tenant-admin'])).token);
  otherAdmin = adminApi(gh, (await adminToken(gh, other, ['tenant-admin'])).token);
});
afterAll(() => gh.stop());

const path = (t: Tenant, name = '') => `/tenants/${t.slug}/saml-connections${name ? `/${name}` : ''}`;
const connection = (overrides: Record<string, unknown> = {}) => ({
  name: 'okta',
  display_name: 'Acme Okta',
  idp_metadata_xml: idpMetadata(),
  email_domains: ['Acme.example', 'acme.example', 'corp.acme.example'],
  attribute_mapping: { email: 'urn:oid:0.9.2342.19200300.100.1.3', groups: 'memberOf' },
  group_role_mapping: { admins: 'tenant-admin', staff: ['auditor', 'tenant-admin', 'auditor'] },
  ...overrides,
});
const fieldsOf = (res: ApiAnswer) => res.body.errors.map((e: { field: string }) => e.field);

describe('SAML connections: lifecycle', () => {
  it('creates a connection and shows what it understood of the metadata and the SP URLs to give the IdP', async () => {
    const res = await ownAdmin('POST', path(tenant), connection());
    expect(res.status).toBe(201);
    const issuer = `${gh.url}/t/${tenant.slug}`;
    expect(res.body).toMatchObject({
      name: 'okta',
      display_name: 'Acme Okta',
      idp_entity_id: 'https://idp.example.com/saml/metadata',
      idp_sso_url: 'https://idp.example.com/saml/sso',
      idp_sso_urls: { http_redirect: 'https://idp.example.com/saml/sso', http_post: 'https://idp.example.com/saml/sso/post' },
      idp_certificates: [{ fingerprint_sha256: fingerprint(IDP_CERT_PEM), subject: 'CN=test-idp', not_after: expect.stringMatching(/^\d{4}-/) }],
      sp_entity_id: `${issuer}/saml/okta/metadata`,
      sp_metadata_url: `${issuer}/saml/okta/metadata`,
      acs_url: `${issuer}/saml/okta/acs`,
      email_domains: ['acme.example', 'corp.acme.example'],
      attribute_mapping: { email: 'urn:oid:0.9.2342.19200300.100.1.3', groups: 'memberOf' },
      group_role_mapping: { admins: ['tenant-admin'], staff: ['auditor', 'tenant-admin'] },
      allow_idp_initiated: false,
      upstream_mfa_counts: false,
      idp_metadata_xml: idpMetadata(),
    });
    expect((await api('GET', path(tenant, 'okta'))).body).toEqual(res.body);
  });

  it('lists connections a page at a time, without their metadata XML', async () => {
    await api('POST', path(tenant), connection({ name: 'azure', email_domains: ['azure.example'], group_role_mapping: undefined }));
    const first = await api('GET', `${path(tenant)}?limit=1`);
    expect(first.status).toBe(200);
    expect(first.body.items.map((c: { name: string }) => c.name)).toEqual(['azure']);
    expect(first.body.items[0]).not.toHaveProperty('idp_metadata_xml');
    expect(first.body.items[0].group_role_mapping).toEqual({});
    const second = await api('GET', `${path(tenant)}?limit=1&cursor=${first.body.next_cursor}`);
    expect(second.body).toMatchObject({ items: [{ name: 'okta', email_domains: ['acme.example', 'corp.acme.example'] }], next_cursor: null });
  });

  it('patches any subset, re-reading new metadata, and keeps the name', async () => {
    const rollover = idpMetadata({
      entityId: 'https://idp2.example.com/entity',
      sso: '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp2.example.com/sso"/>',
      // No `use`: signs as well (SAML metadata §2.4.1.1); an encryption-only key does not.
      keys: keyDescriptor(IDP_CERT_PEM, 'signing') + keyDescriptor(IDP_NEXT_CERT_PEM) + keyDescriptor(IDP_CERT_PEM, 'encryption'),
    });
    const res = await api('PATCH', path(tenant, 'azure'), { display_name: 'Azure AD', idp_metadata_xml: rollover, allow_idp_initiated: true, attribute_mapping: {} });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'azure', display_name: 'Azure AD', idp_entity_id: 'https://idp2.example.com/entity', allow_idp_initiated: true, attribute_mapping: {}, email_domains: ['azure.example'] });
    expect(res.body.idp_sso_url).toBe('https://idp2.example.com/sso');
    expect(res.body.idp_sso_urls).toEqual({ http_redirect: null, http_post: 'https://idp2.example.com/sso' });
    expect(res.body.idp_certificates.map((c: { fingerprint_sha256: string }) => c.fingerprint_sha256)).toEqual([fingerprint(IDP_CERT_PEM), fingerprint(IDP_NEXT_CERT_PEM)]);
    const renamed = await api('PATCH', path(tenant, 'azure'), { name: 'entra' });
    expect(renamed.status).toBe(400);
    expect(fieldsOf(renamed)).toEqual(['name']);
  });

  it('accepts metadata larger than the 64 kB the rest of the admin API takes', async () => {
    const big = idpMetadata({ extra: `<md:Extensions><!-- ${'x'.repeat(120_000)} --></md:Extensions>` });
    const res = await api('POST', path(tenant), connection({ name: 'adfs', idp_metadata_xml: big, email_domains: [] }));
    expect(res.status).toBe(201);
  });

  it('deletes a connection and frees its domains', async () => {
    expect((await api('DELETE', path(tenant, 'adfs'))).status).toBe(204);
    expect((await api('GET', path(tenant, 'adfs'))).status).toBe(404);
    expect((await api('DELETE', path(tenant, 'adfs'))).status).toBe(404);
    expect((await api('PATCH', path(tenant, 'azure'), { email_domains: [] })).status).toBe(200);
    const reuse = await api('POST', path(tenant), connection({ name: 'azure-2', email_domains: ['azure.example'] }));
    expect(reuse.status).toBe(201);
  });

  it('writes an audit event for every change, by the acting admin', async () => {
    const res = await api('GET', `/tenants/${tenant.slug}/audit-events?limit=200`);
    const events = res.body.items.filter((e: { type: string }) => e.type.startsWith('saml_connection.'));
    const seen = events.map((e: { type: string; subject: string }) => `${e.type} ${e.subject}`);
    expect(seen).toEqual(expect.arrayContaining([
      'saml_connection.created saml-connection:okta', 'saml_connection.created saml-connection:azure', 'saml_connection.updated saml-connection:azure',
      'saml_connection.created saml-connection:adfs', 'saml_connection.deleted saml-connection:adfs',
    ]));
    const created = events.find((e: { type: string; subject: string }) => e.type === 'saml_connection.created' && e.subject === 'saml-connection:okta');
    expect(created.actor).toMatch(/^client:/);
    expect(created.details).toMatchObject({ idp_entity_id: 'https://idp.example.com/saml/metadata', email_domains: ['acme.example', 'corp.acme.example'] });
    const updated = events.find((e: { type: string }) => e.type === 'saml_connection.updated');
    expect(updated.details.fields).toEqual(expect.arrayContaining(['email_domains']));
  });
});

describe('SAML connections: refusals', () => {
  const refused = async (body: unknown, status = 400) => {
    const res = await api('POST', path(tenant), body);
    expect(res.status).toBe(status);
    expect(res.type).toMatch(/^application\/problem\+json/);
    return res;
  };

  it('refuses a name that cannot be a URL path segment', async () => {
    for (const name of ['Okta', '-okta', 'ok/ta', 'ok ta', 'a'.repeat(64), '']) {
      expect(fieldsOf(await refused(connection({ name, email_domains: [] })))).toEqual(['name']);
    }
  });

  it('refuses metadata that is not well-formed XML, with a DOCTYPE, or that cannot log anyone in', async () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE md [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${idpMetadata().replace(/^<\?xml[^>]*>/, '').replace('</md:EntityDescriptor>', '<x>&xxe;</x></md:EntityDescriptor>')}`;
    const bomb = `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>`;
    const cases: Record<string, string> = {
      mismatched: idpMetadata({ extra: '<md:Extensions></md:Extension>' }),
      unquoted: idpMetadata({ extra: '<md:Extensions a=1/>' }),
      'not xml': 'this is not XML',
      xxe,
      bomb,
      'SP metadata': idpMetadata().replace(/IDPSSODescriptor/g, 'SPSSODescriptor'),
      'no SSO service': idpMetadata({ sso: '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://idp.example.com/soap"/>' }),
      'no signing certificate': idpMetadata({ keys: keyDescriptor(IDP_CERT_PEM, 'encryption') }),
      'broken certificate': idpMetadata({ keys: '<md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>' }),
      'no entityID': idpMetadata({ entityId: '' }),
      'too large': idpMetadata({ extra: `<!-- ${'x'.repeat(300_000)} -->` }),
      // samlify's reading grows with the square of a descriptor's elements: refused before it runs.
      'element flood in the descriptor': idpMetadata({ sso: `${'<x/>'.repeat(20_000)}<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/>` }),
      'NUL by character reference': idpMetadata({ entityId: 'https://idp.example.com/&#0;' }),
      'surrogate by character reference': idpMetadata({ entityId: 'https://idp.example.com/&#xD800;' }),
    };
    for (const [label, xml] of Object.entries(cases)) {
      const res = await refused(connection({ name: 'bad', idp_metadata_xml: xml, email_domains: [] }));
      expect([label, fieldsOf(res)]).toEqual([label, ['idp_metadata_xml']]);
      expect(JSON.stringify(res.body)).not.toContain('root:'); // nothing of /etc/passwd
    }
    const doctype = await refused(connection({ name: 'bad', idp_metadata_xml: xxe, email_domains: [] }));
    expect(doctype.body).toMatchObject({ code: 'invalid_idp_metadata', detail: expect.stringContaining('DOCTYPE') });
  });

  it('refuses unknown roles, unknown fields, bad domains and unknown claims, naming the field', async () => {
    const unknownRole = await refused(connection({ name: 'bad', email_domains: [], group_role_mapping: { g: ['nope', 'auditor'], h: 'gone' } }));
    expect(unknownRole.body).toMatchObject({ code: 'unknown_role', errors: [{ field: 'group_role_mapping', message: expect.stringContaining('gone, nope') }] });
    expect(fieldsOf(await refused(connection({ name: 'bad', email_domains: [], entity_id: 'x' })))).toEqual(['entity_id']);
    for (const d of ['example', 'not a domain', 'a@example.com', '-x.example', 'example.com.', 'x'.repeat(64) + '.example']) {
      expect(fieldsOf(await refused(connection({ name: 'bad', email_domains: [d] })))[0]).toMatch(/^email_domains/);
    }
    expect(fieldsOf(await refused(connection({ name: 'bad', email_domains: [], attribute_mapping: { phone: 'tel' } })))).toEqual(['attribute_mapping']);
    expect((await refused(connection({ name: 'bad', email_domains: [], allow_idp_initiated: 'yes' }))).body.code).toBe('invalid_request');
    expect((await api('GET', path(tenant, 'bad'))).status).toBe(404); // nothing was stored
  });

  it('refuses a duplicate name and a domain another connection of the tenant already has', async () => {
    const name = await refused(connection({ email_domains: [] }), 409);
    expect(name.body.code).toBe('saml_connection_exists');
    const domain = await refused(connection({ name: 'okta-2', email_domains: ['new.example', 'corp.acme.example'] }), 409);
    expect(domain.body).toMatchObject({ code: 'email_domain_taken', errors: [{ field: 'email_domains', message: expect.stringContaining('corp.acme.example (okta)') }] });
    expect((await api('GET', path(tenant, 'okta-2'))).status).toBe(404);
    const patched = await api('PATCH', path(tenant, 'azure'), { email_domains: ['acme.example'] });
    expect(patched.status).toBe(409);
    // Its own domains are no conflict.
    expect((await api('PATCH', path(tenant, 'okta'), { email_domains: ['acme.example'] })).status).toBe(200);
  });

  it('refuses a domain an OIDC connection of the tenant already has, as OIDC connections refuse SAML domains', async () => {
    const oidc = await api('POST', `/tenants/${tenant.slug}/oidc-connections`, {
      name: 'upstream', display_name: 'Upstream', issuer: 'https://op.upstream.example', client_id: 'gatehouse', client_secret: 's3cret-upstream',
      token_endpoint_auth_method: 'client_secret_post', scopes: ['openid', 'email'], email_domains: ['upstream.example'],
    });
    expect(oidc.status).toBe(201);
    const created = await refused(connection({ name: 'okta-3', email_domains: ['upstream.example'] }), 409);
    expect(created.body).toMatchObject({ code: 'email_domain_taken', errors: [{ field: 'email_domains', message: expect.stringContaining('upstream.example (oidc/upstream)') }] });
    expect((await api('GET', path(tenant, 'okta-3'))).status).toBe(404);
    expect((await api('PATCH', path(tenant, 'okta'), { email_domains: ['acme.example', 'upstream.example'] })).status).toBe(409);
    expect((await api('GET', path(tenant, 'okta'))).body.email_domains).toEqual(['acme.example']);
  });

  it('answers 401 without a token, 403 to the admin of another tenant, 404 for an unknown tenant or connection', async () => {
    const anonymous = await adminApi(gh)('GET', path(tenant));
    expect(anonymous.status).toBe(401);
    const attempts: [string, string, unknown?][] = [
      ['GET', path(tenant)], ['GET', path(tenant, 'okta')], ['POST', path(tenant), connection({ name: 'sneaky' })],
      ['PATCH', path(tenant, 'okta'), { display_name: 'x' }], ['DELETE', path(tenant, 'okta')],
    ];
    for (const [method, target, body] of attempts) {
      expect([method, target, (await otherAdmin(method, target, body)).status]).toEqual([method, target, 403]);
    }
    expect((await api('GET', '/tenants/no-such-tenant/saml-connections')).status).toBe(404);
    expect((await api('GET', path(tenant, 'nope'))).status).toBe(404);
    expect((await api('GET', path(tenant, 'NOT_A_NAME'))).status).toBe(404);
    expect((await api('PATCH', path(tenant, 'nope'), { display_name: 'x' })).status).toBe(404);
  });

  it('keeps tenants apart: the same name and domain are free in another tenant, and invisible from it', async () => {
    // Roles are the tenant's own: `auditor` exists only in the first tenant.
    const foreignRole = await otherAdmin('POST', path(other), connection({ display_name: 'Other Okta' }));
    expect(foreignRole.body).toMatchObject({ status: 400, code: 'unknown_role', detail: 'unknown role(s): auditor' });
    const res = await otherAdmin('POST', path(other), connection({ display_name: 'Other Okta', group_role_mapping: { admins: 'tenant-admin' } }));
    expect(res.status).toBe(201);
    expect(res.body.sp_entity_id).toBe(`${gh.url}/t/${other.slug}/saml/okta/metadata`);
    expect((await otherAdmin('GET', path(other))).body.items.map((c: { display_name: string }) => c.display_name)).toEqual(['Other Okta']);
    expect((await api('GET', path(tenant, 'okta'))).body.display_name).toBe('Acme Okta');
    expect((await otherAdmin('DELETE', path(other, 'okta'))).status).toBe(204);
    expect((await api('GET', path(tenant, 'okta'))).status).toBe(200);
  });
});
