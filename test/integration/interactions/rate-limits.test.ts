import type { Gatehouse } from '../../../src/app.js';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { Browser, csrfOf } from '../../support/browser.js';
import { fetchFrom } from '../../support/from-address.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { startSecondNode } from '../../support/nodes.js';
import { RelyingParty } from '../../support/relying-party.js';
import { oathtoolCode } from '../../support/totp.js';

// Password sprays and code brute force from several source addresses (all of 127/8 is loopback).
let gh: TestGatehouse;
let nodeB: Gatehouse | undefined;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;

beforeAll(async () => {
  gh = await startTestGatehouse();
  api = await systemAdminApi(gh);
  // With PostgreSQL and Redis, half of every attack goes to a second node sharing the store.
  if (process.env.DATABASE_URL && process.env.REDIS_URL) nodeB = await startSecondNode(gh, { sharedKv: true });
}, 120_000);
afterAll(async () => {
  await nodeB?.close();
  await gh.stop();
});

async function tenantWith(settings: Record<string, unknown>) {
  const tenant = await gh.tenant();
  expect((await api('PATCH', `/tenants/${tenant.slug}`, settings)).status).toBe(200);
  return (await findTenantBySlug(gh.deps.db, tenant.slug))!;
}

/** A relying party whose browser sends from `address`, on node A or (when there is one) node B. */
async function from(tenant: Tenant, address: string, node: 'a' | 'b' = 'a') {
  const base = node === 'b' && nodeB ? nodeB.url : gh.url;
  const app = await gh.client(tenant);
  const rp = await RelyingParty.discover({ issuer: `${base}/t/${tenant.slug}`, ...app });
  rp.browser = new Browser(fetchFrom(address));
  return { rp, base };
}

async function tryPassword(tenant: Tenant, address: string, email: string, password: string, node: 'a' | 'b' = 'a') {
  const { rp } = await from(tenant, address, node);
  const start = await rp.startLogin({ scope: 'openid' });
  const res = await rp.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email, password });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), html: res.status === 303 ? '' : await res.text() };
}

it('stops a password spray from one address at login_per_ip, while another address logs in', async () => {
  const tenant = await tenantWith({ rate_limits: { login_per_ip: { limit: 3, window_seconds: 60 } }, lockout: { max_failed_attempts: 100 } });
  const users = await Promise.all([0, 1, 2, 3].map(() => gh.user(tenant)));
  for (let i = 0; i < 3; i++) expect((await tryPassword(tenant, '127.0.0.2', users[i].email, 'Winter2026!', i % 2 ? 'b' : 'a')).status).toBe(401);
  const refused = await tryPassword(tenant, '127.0.0.2', users[3].email, users[3].password);
  expect(refused.status).toBe(429);
  expect(Number(refused.retryAfter)).toBeGreaterThan(0);
  expect(refused.html).toContain('Too many attempts');
  expect(refused.html).toContain('name="password"');
  // The same correct login from another address is under its limit.
  expect((await tryPassword(tenant, '127.0.0.3', users[3].email, users[3].password, 'b')).status).toBe(303);
});

it('stops guesses at one account from many addresses at login_per_account, known or not alike', async () => {
  const tenant = await tenantWith({ rate_limits: { login_per_account: { limit: 4, window_seconds: 60 } }, lockout: { max_failed_attempts: 100 } });
  const user = await gh.user(tenant);
  for (let i = 0; i < 4; i++) expect((await tryPassword(tenant, `127.0.1.${10 + i}`, user.email, `guess-${i}`, i % 2 ? 'b' : 'a')).status).toBe(401);
  const refused = await tryPassword(tenant, '127.0.1.20', user.email, user.password);
  expect(refused.status).toBe(429);
  // An unknown address is answered exactly the same way once over its limit.
  for (let i = 0; i < 4; i++) await tryPassword(tenant, `127.0.2.${10 + i}`, 'nobody@example.com', `guess-${i}`);
  const unknown = await tryPassword(tenant, '127.0.2.20', 'nobody@example.com', 'x');
  expect(unknown.status).toBe(429);
  const shape = (html: string) => html.replace(/value="[^"]*"/g, '').replace(/interaction\/[^/"]+/g, 'interaction/UID');
  expect(shape(unknown.html)).toBe(shape(refused.html));
});

it('locks an account after wrong codes spread over two nodes and several addresses', async () => {
  const tenant = await tenantWith({ mfa_required: true, lockout: { max_failed_attempts: 3, window_seconds: 600, duration_seconds: 600 } });
  const user = await gh.user(tenant);
  let secret = '';
  const enrol = await from(tenant, '127.0.0.1');
  await enrol.rp.login(user, { scope: 'openid' }, { enrolled: (s) => { secret = s; }, enrollCode: (s) => oathtoolCode(s) });
  const codeForm = async (address: string, node: 'a' | 'b') => {
    const { rp, base } = await from(tenant, address, node);
    const start = await rp.startLogin({ scope: 'openid' });
    const res = await rp.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email: user.email, password: user.password });
    expect(res.status).toBe(303);
    const page = await rp.browser.follow(new URL(res.headers.get('location')!, start.at).toString(), base);
    const html = await page.res.text();
    return (code: string) => rp.browser.post(`${page.url}/mfa`, { csrf: csrfOf(html), code });
  };
  const attempts = [await codeForm('127.0.3.1', 'a'), await codeForm('127.0.3.2', 'b'), await codeForm('127.0.3.3', 'a')];
  for (const attempt of attempts) expect((await attempt('000000')).status).toBe(401);
  // Locked on every node: the right code is refused with the same answer as a wrong one.
  const locked = await attempts[1](oathtoolCode(secret, 30));
  expect(locked.status).toBe(401);
  expect(await locked.text()).toContain('The code is incorrect.');
  // And the password form now answers it like a wrong password, on the other node too.
  expect((await tryPassword(tenant, '127.0.3.5', user.email, user.password, 'a')).status).toBe(401);
  const events = await gh.deps.db('audit_events').where({ tenant_id: tenant.id, subject: `user:${user.id}` }).select('type', 'ip');
  expect(events.filter((e) => e.type === 'mfa.failed').map((e) => e.ip)).toEqual(expect.arrayContaining(['127.0.3.1', '127.0.3.2', '127.0.3.3']));
  expect(events.map((e) => e.type)).toContain('account.locked');
});

it('forgets the wrong passwords before a correct one: the lockout counts failures in a row', async () => {
  // Rate limits out of the way: this counts the lockout alone (13 attempts at one account).
  const tenant = await tenantWith({ lockout: { max_failed_attempts: 3, window_seconds: 600, duration_seconds: 600 }, rate_limits: { login_per_ip: { limit: 100, window_seconds: 60 }, login_per_account: { limit: 100, window_seconds: 60 } } });
  const user = await gh.user(tenant);
  let guess = 0;
  const wrong = async (node: 'a' | 'b') => expect((await tryPassword(tenant, '127.0.3.10', user.email, `guess-${guess++}`, node)).status).toBe(401);
  const right = (node: 'a' | 'b') => tryPassword(tenant, '127.0.3.10', user.email, user.password, node).then((r) => r.status);
  // Each time, two wrong passwords then a right one: had the earlier failures still counted, the
  // third wrong one in a row would have locked the account and the right one answered 401.
  for (const node of ['a', 'b', 'a'] as const) {
    await wrong(node);
    await wrong(node === 'a' ? 'b' : 'a');
    expect(await right(node)).toBe(303);
  }
  // Three wrong ones in a row lock it: the right password is then refused too.
  for (let i = 0; i < 3; i++) await wrong(i % 2 ? 'b' : 'a');
  expect(await right('a')).toBe(401);
});
