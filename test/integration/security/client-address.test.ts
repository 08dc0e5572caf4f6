import * as oidc from 'openid-client';
import { loadConfig } from '../../../src/config/load.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { adminToken, systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { Browser } from '../../support/browser.js';
import { fetchFrom } from '../../support/from-address.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

/**
 * DESIGN.md "Configuration", TRUST_PROXY: X-Forwarded-For is believed only from a trusted proxy,
 * and the address Gatehouse records is the one clients know (127.0.0.22, never ::ffff:127.0.0.22),
 * alike in its own pages, the admin API and oidc-provider's endpoints.
 */
const SPOOFED = { 'x-forwarded-for': '203.0.113.9' };

interface Server {
  gh: TestGatehouse;
  tenant: Tenant;
  api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
}

async function start(env: Record<string, string>): Promise<Server> {
  const gh = await startTestGatehouse({ trustProxy: loadConfig(env).trustProxy });
  return { gh, tenant: await gh.tenant(), api: await systemAdminApi(gh) };
}

let plain: Server;
let proxied: Server;
beforeAll(async () => {
  plain = await start({});
  // 127.0.0.16-23: the proxy 127.0.0.22 and its neighbour 127.0.0.17, but not 127.0.0.33.
  proxied = await start({ TRUST_PROXY: '127.0.0.16/29' });
}, 120_000); // two servers start here: slow on a loaded machine
afterAll(async () => {
  await plain?.gh.stop();
  await proxied?.gh.stop();
});

/** A login from `from` (its pages and the provider's), then a revocation at the provider. */
async function loginAndRevoke({ gh, tenant, api }: Server, from: string, headers: Record<string, string>) {
  const user = await gh.user(tenant);
  const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, ...(await gh.client(tenant)) });
  rp.browser = new Browser(fetchFrom(from, headers));
  const tokens = await rp.login(user);
  rp.config[oidc.customFetch] = fetchFrom(from, headers) as unknown as oidc.CustomFetch;
  await rp.revoke(tokens.refresh_token!);
  const ipOf = async (type: string) => (await api('GET', `/tenants/${tenant.slug}/audit-events?type=${type}`)).body.items.map((e: { ip: string }) => e.ip);
  return {
    login: await ipOf('login.succeeded'),
    revocation: await ipOf('token.revoked'),
    sessions: (await api('GET', `/tenants/${tenant.slug}/users/${user.id}/sessions`)).body.items.map((s: { ip: string }) => s.ip),
  };
}

/** An admin API change from `from`; answers the ip of its audit event. */
async function adminChangeFrom({ gh, tenant, api }: Server, from: string, headers: Record<string, string>) {
  const { token } = await adminToken(gh, tenant, ['tenant-admin']);
  const res = await fetchFrom(from, headers)(`${gh.url}/admin/v1/tenants/${tenant.slug}/groups`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `g-${Math.random().toString(36).slice(2)}` }),
  });
  expect(res.status).toBe(201);
  const { id } = await res.json();
  const events = (await api('GET', `/tenants/${tenant.slug}/audit-events?type=group.created`)).body.items;
  return events.find((e: { subject: string }) => e.subject === `group:${id}`)?.ip;
}

describe('client address without TRUST_PROXY', () => {
  it('records the peer, as an IPv4 client knows its address, in login and provider events and session lists', async () => {
    const seen = await loginAndRevoke(plain, '127.0.0.22', {});
    expect(seen).toEqual({ login: ['127.0.0.22'], revocation: ['127.0.0.22'], sessions: ['127.0.0.22'] });
  });

  it('ignores X-Forwarded-For from a client', async () => {
    const seen = await loginAndRevoke({ ...plain, tenant: await plain.gh.tenant() }, '127.0.0.22', SPOOFED);
    expect(seen).toEqual({ login: ['127.0.0.22'], revocation: ['127.0.0.22'], sessions: ['127.0.0.22'] });
    expect(await adminChangeFrom(plain, '127.0.0.22', SPOOFED)).toBe('127.0.0.22');
  });

  it('builds URLs from PUBLIC_URL whatever X-Forwarded-Proto and -Host say', async () => {
    const res = await fetchFrom('127.0.0.22', { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' })(
      `${plain.gh.url}/t/${plain.tenant.slug}/.well-known/openid-configuration`);
    expect((await res.json()).issuer).toBe(`${plain.gh.url}/t/${plain.tenant.slug}`);
  });
});

describe('client address with TRUST_PROXY', () => {
  it('believes X-Forwarded-For from a trusted proxy, in login and provider events, session lists and the admin API', async () => {
    const seen = await loginAndRevoke(proxied, '127.0.0.22', SPOOFED);
    expect(seen).toEqual({ login: ['203.0.113.9'], revocation: ['203.0.113.9'], sessions: ['203.0.113.9'] });
    expect(await adminChangeFrom(proxied, '127.0.0.22', SPOOFED)).toBe('203.0.113.9');
  });

  it('takes the right-most address that is no trusted proxy, not what the client wrote to its left', async () => {
    expect(await adminChangeFrom(proxied, '127.0.0.22', { 'x-forwarded-for': '192.0.2.66, 203.0.113.9, 127.0.0.17' })).toBe('203.0.113.9');
  });

  it('ignores X-Forwarded-For from a peer outside TRUST_PROXY', async () => {
    expect(await adminChangeFrom(proxied, '127.0.0.33', SPOOFED)).toBe('127.0.0.33');
    const seen = await loginAndRevoke({ ...proxied, tenant: await proxied.gh.tenant() }, '127.0.0.33', SPOOFED);
    expect(seen).toEqual({ login: ['127.0.0.33'], revocation: ['127.0.0.33'], sessions: ['127.0.0.33'] });
  });

  it('builds URLs from PUBLIC_URL even behind a trusted proxy', async () => {
    const res = await fetchFrom('127.0.0.22', { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' })(
      `${proxied.gh.url}/t/${proxied.tenant.slug}/.well-known/openid-configuration`);
    expect((await res.json()).issuer).toBe(`${proxied.gh.url}/t/${proxied.tenant.slug}`);
  });
});
