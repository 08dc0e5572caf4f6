import { AUDIT_SUBJECT } from '../../../src/audit/record.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';
import { idpMetadata } from '../../support/saml/idp-metadata.js';

/**
 * Every audit event names what it was done to in one format, `kind:key` (audit/record.ts), the
 * way `actor` names a principal. A broad scenario through the admin API and a login writes events
 * of every kind; every row of every tenant must follow the format.
 */
let gh: TestGatehouse;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
beforeAll(async () => {
  gh = await startTestGatehouse();
  api = await systemAdminApi(gh);
}, 120_000);
afterAll(() => gh.stop());

async function ok(method: string, path: string, body?: unknown) {
  const res = await api(method, path, body);
  expect([method, path, res.status < 300 ? 'ok' : res.body]).toEqual([method, path, 'ok']);
  return res.body;
}

it('writes every subject as kind:key in a broad scenario', async () => {
  const slug = 'subjects';
  const s = `/tenants/${slug}`;
  await ok('POST', '/tenants', { slug, name: 'Subjects' });
  await ok('PATCH', s, { session_ttl: 7200 });
  const client = await ok('POST', `${s}/clients`, { client_name: 'App', redirect_uris: ['http://127.0.0.1:9/cb'], post_logout_redirect_uris: [] });
  await ok('PATCH', `${s}/clients/${client.client_id}`, { client_name: 'App 2' });
  await ok('POST', `${s}/clients/${client.client_id}/secret`);
  await ok('PUT', `${s}/clients/${client.client_id}/roles`, { roles: ['tenant-admin'] });
  const resource = await ok('POST', `${s}/resources`, { identifier: 'https://api.subjects.example', name: 'API', permissions: [{ name: 'read' }] });
  await ok('PATCH', `${s}/resources/${resource.id}`, { name: 'API 2' });
  const role = await ok('POST', `${s}/roles`, { name: 'reader', permissions: [{ resource: 'https://api.subjects.example', permission: 'read' }] });
  await ok('PATCH', `${s}/roles/${role.id}`, { description: 'Reads' });
  const password = 'a long and unusual passphrase 42';
  const user = await ok('POST', `${s}/users`, { email: 'subject@example.com', password, email_verified: true, roles: ['reader'] });
  await ok('PATCH', `${s}/users/${user.id}`, { name: 'Subject' });
  await ok('PUT', `${s}/users/${user.id}/roles`, { roles: [] });
  const group = await ok('POST', `${s}/groups`, { name: 'Team' });
  await ok('PUT', `${s}/groups/${group.id}/members`, { user_ids: [user.id] });
  await ok('PUT', `${s}/groups/${group.id}/roles`, { roles: ['reader'] });
  await ok('POST', `${s}/keys/rotate`, { alg: 'ES256' });
  await ok('POST', `${s}/saml-connections`, { name: 'okta', display_name: 'Okta', idp_metadata_xml: idpMetadata(), email_domains: ['subjects.example'], attribute_mapping: { email: 'mail' } });
  await ok('PATCH', `${s}/saml-connections/okta`, { display_name: 'Okta 2' });

  // A login (login.succeeded, by the user), then the admin ends it and manages the account.
  const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${slug}`, clientId: client.client_id, redirectUri: 'http://127.0.0.1:9/cb', clientSecret: (await ok('POST', `${s}/clients/${client.client_id}/secret`)).client_secret });
  await rp.login({ email: user.email, password });
  await ok('DELETE', `${s}/users/${user.id}/sessions`);
  await ok('PUT', `${s}/users/${user.id}/password`, { password: `${password} again` });
  await ok('POST', `${s}/users/${user.id}/unlock`);
  await ok('DELETE', `${s}/users/${user.id}/mfa`);

  await ok('DELETE', `${s}/saml-connections/okta`);
  await ok('DELETE', `${s}/groups/${group.id}`);
  await ok('DELETE', `${s}/roles/${role.id}`);
  await ok('DELETE', `${s}/resources/${resource.id}`);
  await ok('DELETE', `${s}/users/${user.id}`);
  await ok('DELETE', `${s}/clients/${client.client_id}`);
  // Deleting a tenant removes its trail; the system tenant's records the deletion.
  await ok('POST', '/tenants', { slug: 'subjects-gone' });
  await ok('DELETE', '/tenants/subjects-gone');

  const rows = await gh.deps.db('audit_events').select('type', 'subject');
  const kinds = new Set(rows.filter((r) => r.subject).map((r) => r.subject.split(':')[0]));
  // The scenario reached every kind, so the format check below covers them all.
  expect([...kinds].sort()).toEqual(['client', 'group', 'key', 'resource', 'role', 'saml-connection', 'tenant', 'user']);
  expect(rows.length).toBeGreaterThan(30);
  expect(rows.filter((r) => r.subject !== null && !AUDIT_SUBJECT.test(r.subject))).toEqual([]);
  // Events about a record name it: only anonymous refusals may go without a subject.
  expect(rows.filter((r) => r.subject === null).map((r) => r.type)).toEqual([]);
  expect(rows).toEqual(expect.arrayContaining([
    { type: 'login.succeeded', subject: `user:${user.id}` },
    { type: 'tenant.deleted', subject: 'tenant:subjects-gone' },
    { type: 'tenant.updated', subject: `tenant:${slug}` },
    { type: 'role.assigned', subject: `group:${group.id}` },
    { type: 'role.assigned', subject: `client:${client.client_id}` },
    { type: 'resource.created', subject: 'resource:https://api.subjects.example' },
    { type: 'role.deleted', subject: 'role:reader' },
    { type: 'saml_connection.updated', subject: 'saml-connection:okta' },
  ]));
}, 180_000);
