import { randomBytes } from 'node:crypto';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import { csrfOf } from '../../support/browser.js';
import { systemAdminApi } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

// The consent page says in words what the application asks for, with the admin's descriptions.
let gh: TestGatehouse;
let slug: string;
const API = 'https://orders.example.com/api';

beforeAll(async () => {
  gh = await startTestGatehouse();
  const api = await systemAdminApi(gh);
  slug = `words-${randomBytes(3).toString('hex')}`;
  expect((await api('POST', '/tenants', { slug, name: 'Words' })).status).toBe(201);
  expect((await api('POST', `/tenants/${slug}/resources`, {
    identifier: API, name: 'Orders API',
    permissions: [{ name: 'read:orders', description: 'See your orders & invoices' }, { name: 'ship:orders' }],
  })).status).toBe(201);
  await api('POST', `/tenants/${slug}/roles`, { name: 'clerk', permissions: [{ resource: API, permission: 'read:orders' }, { resource: API, permission: 'ship:orders' }] });
});
afterAll(() => gh.stop());

async function consentPage(params: Record<string, string>) {
  const tenant = (await findTenantBySlug(gh.deps.db, slug))!;
  const user = await gh.user(tenant, { roles: ['clerk'] });
  const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${slug}`, ...(await gh.client(tenant)) });
  const start = await rp.startLogin(params);
  const posted = await rp.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email: user.email, password: user.password });
  expect(posted.status).toBe(303);
  const next = await rp.browser.follow(new URL(posted.headers.get('location')!, start.at).toString(), new URL(gh.url).origin);
  return next.res.text();
}

it('describes standard scopes in sentences and permissions by the description the admin wrote, else by name', async () => {
  const html = await consentPage({ scope: 'openid profile email roles offline_access read:orders ship:orders', resource: API });
  expect(html).toContain('name="decision" value="allow"');
  expect(html).toContain('<li data-scope="openid">Know who you are (your account identifier)</li>');
  expect(html).toContain('<li data-scope="profile">See your name</li>');
  expect(html).toContain('<li data-scope="email">See your email address and whether it is verified</li>');
  expect(html).toContain('<li data-scope="roles">See the roles you hold</li>');
  expect(html).toContain('<li data-scope="offline_access">Stay connected while you are away');
  expect(html).toContain('On <strong>Orders API</strong> (<code>https://orders.example.com/api</code>), it asks for:');
  // The admin's words, escaped; a permission without a description shows its name.
  expect(html).toContain('<li data-permission="read:orders">See your orders &amp; invoices</li>');
  expect(html).toContain('<li data-permission="ship:orders">ship:orders</li>');
  // No raw scope token is shown as the text of a line.
  expect(html).not.toMatch(/<li[^>]*>(openid|profile|email|offline_access)<\/li>/);
});
