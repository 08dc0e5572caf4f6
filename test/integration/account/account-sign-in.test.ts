import { randomBytes } from 'node:crypto';
import { CLI_ACTOR } from '../../../src/deps.js';
import { rotateMasterKey } from '../../../src/domain/keys/master-key-rotation.js';
import { beginTotpEnrollment, confirmTotpEnrollment } from '../../../src/domain/mfa/mfa.service.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { findUserById } from '../../../src/domain/users/users.queries.js';
import { Secrets } from '../../../src/security/secrets.js';
import { postForm, signInToAccount } from '../../support/account.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { Browser } from '../../support/browser.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { oathtoolCode } from '../../support/totp.js';

let gh: TestGatehouse;
let tenant: Tenant;
let other: Tenant;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;

beforeAll(async () => {
  gh = await startTestGatehouse();
  tenant = await gh.tenant();
  other = await gh.tenant();
  api = await systemAdminApi(gh);
});
afterAll(() => gh.stop());

const audit = async (slug: string, type: string) => (await api('GET', `/tenants/${slug}/audit-events?type=${type}`)).body.items as any[];

describe('account page sign-in', () => {
  it('signs in through the tenant\'s own login as the built-in client, without a consent page', async () => {
    const user = await gh.user(tenant);
    const browser = new Browser();
    const first = await browser.get(`${gh.url}/t/${tenant.slug}/account`);
    expect(first.status).toBe(303);
    expect(first.headers.get('cache-control')).toBe('no-store');
    const auth = new URL(first.headers.get('location')!, gh.url);
    expect(auth.pathname).toBe(`/t/${tenant.slug}/account/login`);
    const toAuthorize = await browser.get(auth.toString());
    const authorize = new URL(toAuthorize.headers.get('location')!);
    expect(authorize.pathname).toBe(`/t/${tenant.slug}/auth`);
    expect(Object.fromEntries(authorize.searchParams)).toMatchObject({
      client_id: 'gatehouse-account', response_type: 'code', scope: 'openid', code_challenge_method: 'S256',
      redirect_uri: `${gh.url}/t/${tenant.slug}/account/callback`,
    });
    const { html, status, url } = await signInToAccount(gh, tenant.slug, user, { browser });
    expect(status).toBe(200);
    expect(url).toBe(`${gh.url}/t/${tenant.slug}/account`);
    expect(html).toContain(user.email);
    expect(html).not.toContain('name="decision"');
    const events = await audit(tenant.slug, 'login.succeeded');
    expect(events.some((e) => e.subject === `user:${user.id}` && e.details.client_id === 'gatehouse-account')).toBe(true);
  });

  it('keeps its session in an HttpOnly, SameSite=Lax cookie scoped to the tenant\'s account path', async () => {
    const user = await gh.user(tenant);
    const browser = new Browser();
    const lines: string[] = [];
    const send: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      lines.push(...res.headers.getSetCookie());
      return res;
    };
    await signInToAccount(gh, tenant.slug, user, { browser: Object.assign(new Browser(send), { jar: browser.jar }) });
    const cookie = lines.find((l) => l.startsWith('gh_account='))!;
    expect(cookie).toMatch(new RegExp(`path=/t/${tenant.slug}/account`, 'i'));
    expect(cookie).toMatch(/httponly/i);
    expect(cookie).toMatch(/samesite=lax/i);
    expect(cookie).toMatch(/max-age=|expires=/i);
    expect(cookie).not.toContain(user.id);
  });

  it('asks a TOTP user for the code at the tenant login', async () => {
    const user = await gh.user(tenant);
    const record = (await findUserById(gh.deps.db, tenant.id, user.id))!;
    const enrollment = beginTotpEnrollment(gh.deps, tenant, record);
    expect(await confirmTotpEnrollment(gh.deps, tenant, user.id, enrollment.sealed, oathtoolCode(enrollment.secret), CLI_ACTOR)).toHaveLength(10);
    let asked = 0;
    const { html, status } = await signInToAccount(gh, tenant.slug, user, { code: () => (asked++, oathtoolCode(enrollment.secret, 30)) });
    expect(asked).toBe(1);
    expect(status).toBe(200);
    expect(html).toContain(user.email);
  });

  it('refuses a callback that this browser did not start (state), and a forged cookie', async () => {
    const res = await new Browser().get(`${gh.url}/t/${tenant.slug}/account/callback?code=x&state=y`);
    expect(res.status).toBe(400);
    const browser = new Browser();
    browser.jar.storeLines(['gh_account=v1.AAAA.BBBB.CCCC']);
    expect((await browser.get(`${gh.url}/t/${tenant.slug}/account`)).status).toBe(303);
  });

  it('is not a client an admin sees, edits or deletes', async () => {
    const list = await api('GET', `/tenants/${tenant.slug}/clients`);
    expect(list.body.items.map((c: any) => c.client_id)).not.toContain('gatehouse-account');
    expect((await api('DELETE', `/tenants/${tenant.slug}/clients/gatehouse-account`)).status).toBe(404);
    expect((await api('PATCH', `/tenants/${tenant.slug}/clients/gatehouse-account`, { client_name: 'x' })).status).toBe(404);
  });
});

describe('profile', () => {
  it('changes name, given_name and family_name, audited with the user as actor', async () => {
    const user = await gh.user(tenant);
    const { browser, base, html } = await signInToAccount(gh, tenant.slug, user);
    const res = await postForm(browser, `${base}/profile`, html, { name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.text()).toContain('value="Ada Lovelace"');
    expect(await findUserById(gh.deps.db, tenant.id, user.id)).toMatchObject({ name: 'Ada Lovelace', givenName: 'Ada', familyName: 'Lovelace' });
    const events = await audit(tenant.slug, 'user.updated');
    expect(events.find((e) => e.subject === `user:${user.id}`)).toMatchObject({ actor: `user:${user.id}` });
  });

  it('refuses a form without this sign-in\'s CSRF token', async () => {
    const user = await gh.user(tenant);
    const { browser, base } = await signInToAccount(gh, tenant.slug, user);
    expect((await browser.post(`${base}/profile`, { name: 'Mallory' })).status).toBe(403);
    expect((await browser.post(`${base}/profile`, { name: 'Mallory', csrf: 'x'.repeat(43) })).status).toBe(403);
    // Another user's token does not fit this sign-in either.
    const someone = await signInToAccount(gh, tenant.slug, await gh.user(tenant));
    expect((await postForm(browser, `${base}/profile`, someone.html, { name: 'Mallory' })).status).toBe(403);
    expect((await findUserById(gh.deps.db, tenant.id, user.id))!.name).toBe('Test User');
  });
});

describe('tenant isolation', () => {
  it('an account cookie of one tenant does nothing at another', async () => {
    const user = await gh.user(tenant);
    const { browser, html } = await signInToAccount(gh, tenant.slug, user);
    const value = browser.jar.header().match(/gh_account=([^;]+)/)![1];
    const elsewhere = new Browser();
    elsewhere.jar.storeLines([`gh_account=${value}`]);
    const page = await elsewhere.get(`${gh.url}/t/${other.slug}/account`);
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toContain(`/t/${other.slug}/account/login`);
    const post = await postForm(elsewhere, `${gh.url}/t/${other.slug}/account/profile`, html, { name: 'Cross tenant' });
    expect(post.status).toBe(303);
    expect((await findUserById(gh.deps.db, tenant.id, user.id))!.name).toBe('Test User');
  });
});

describe('sign out', () => {
  it('ends the tenant session it signed in with: the next visit asks for the password again', async () => {
    const user = await gh.user(tenant);
    const { browser, base, html } = await signInToAccount(gh, tenant.slug, user);
    const out = await postForm(browser, `${base}/logout`, html, { logout: '1' });
    expect(out.status).toBe(200);
    expect(await out.text()).toContain('Signed out');
    expect(browser.jar.names()).not.toContain('gh_account');
    const again = await browser.follow(base, gh.url);
    expect(await again.res.text()).toContain('name="password"');
    expect((await audit(tenant.slug, 'session.revoked')).some((e) => e.subject === `user:${user.id}` && e.actor === `user:${user.id}`)).toBe(true);
  });
});



// Last in this file: the node restarts under a new master key.
describe('a master-key rotation', () => {
  it('signs nobody out of the account page (its cookie is sealed with the cookies key, which the rotation carries over)', async () => {
    const user = await gh.user(tenant);
    const browser = new Browser();
    expect((await signInToAccount(gh, tenant.slug, user, { browser })).status).toBe(200);
    const previous = new Secrets(Buffer.from(gh.config.masterKey!, 'base64'));
    const newKey = randomBytes(32).toString('base64');
    await rotateMasterKey(gh.deps.db, { previous, next: new Secrets(Buffer.from(newKey, 'base64')) }, CLI_ACTOR);
    gh.config.masterKey = newKey;
    await gh.restart();
    const page = await browser.get(`${gh.url}/t/${tenant.slug}/account`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(user.email);
  });
});
