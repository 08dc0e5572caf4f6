import { randomBytes } from 'node:crypto';
import * as jose from 'jose';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import { type ApiAnswer, systemAdminApi } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

// Security review, issue 9 #1: a permission refused once was refused forever in that browser.
let gh: TestGatehouse;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
let slug: string;
const API = 'https://api.example.com/x';

beforeAll(async () => {
  gh = await startTestGatehouse();
  api = await systemAdminApi(gh);
  slug = `consent-${randomBytes(3).toString('hex')}`;
  expect((await api('POST', '/tenants', { slug, name: 'Consent' })).status).toBe(201);
  await api('POST', `/tenants/${slug}/resources`, { identifier: API, name: 'X', permissions: [{ name: 'read:x' }, { name: 'write:x' }] });
  await api('POST', `/tenants/${slug}/roles`, { name: 'reader', permissions: [{ resource: API, permission: 'read:x' }] });
  await api('POST', `/tenants/${slug}/roles`, { name: 'writer', permissions: [{ resource: API, permission: 'write:x' }] });
});
afterAll(() => gh.stop());

it('gives a permission from the next login and refresh on once a group grants it, in the same browser', async () => {
  const tenant = (await findTenantBySlug(gh.deps.db, slug))!;
  const user = await gh.user(tenant, { roles: ['reader'] });
  const app = await gh.client(tenant);
  const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${slug}`, ...app });
  const params = { scope: 'openid offline_access read:x write:x', resource: API, prompt: 'login consent' };
  const first = await rp.login(user, params);
  expect(String(jose.decodeJwt(first.access_token).scope).split(' ').sort()).toEqual(['read:x']);

  const group = await api('POST', `/tenants/${slug}/groups`, { name: 'writers' });
  expect((await api('PUT', `/tenants/${slug}/groups/${group.body.id}/roles`, { roles: ['writer'] })).status).toBe(200);
  expect((await api('PUT', `/tenants/${slug}/groups/${group.body.id}/members`, { user_ids: [user.id] })).status).toBe(200);

  // The refresh token of the first login now carries it too (roles are evaluated at each issue).
  const refreshed = await rp.refresh(first.refresh_token!, { resource: API });
  expect(String(jose.decodeJwt(refreshed.access_token).scope).split(' ').sort()).toEqual(['read:x', 'write:x']);
  // And so does the next login in the same browser (same session cookie, same grant).
  const second = await rp.login(user, params);
  expect(String(jose.decodeJwt(second.access_token).scope).split(' ').sort()).toEqual(['read:x', 'write:x']);

  // Taking the role away drops it from the next token.
  expect((await api('PUT', `/tenants/${slug}/groups/${group.body.id}/members`, { user_ids: [] })).status).toBe(200);
  const third = await rp.refresh(second.refresh_token!, { resource: API });
  expect(String(jose.decodeJwt(third.access_token).scope).split(' ').sort()).toEqual(['read:x']);
});
