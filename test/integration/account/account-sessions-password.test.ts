import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { postForm, signInToAccount } from '../../support/account.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { Browser } from '../../support/browser.js';
import { fetchFrom } from '../../support/from-address.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

let gh: TestGatehouse;
let tenant: Tenant;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
let app: { clientId: string; clientSecret?: string; redirectUri: string };

beforeAll(async () => {
  gh = await startTestGatehouse();
  tenant = await gh.tenant();
  api = await systemAdminApi(gh);
  app = await gh.client(tenant);
});
afterAll(() => gh.stop());

const audit = async (type: string) => (await api('GET', `/tenants/${tenant.slug}/audit-events?type=${type}`)).body.items as any[];
/** A relying party whose browser signs in from 127.0.0.7 with a user agent of its own. */
async function phoneApp() {
  const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, ...app });
  rp.browser = new Browser(fetchFrom('127.0.0.7', { 'user-agent': 'PhoneBrowser/7.1 (test)' }));
  return rp;
}
const sessionIds = (html: string) => [...html.matchAll(/name="revoke" value="([^"]+)"/g)].map((m) => m[1]);

describe('own sessions', () => {
  it('lists each session with its address and user agent, this browser marked', async () => {
    const user = await gh.user(tenant);
    await (await phoneApp()).login(user);
    const { browser, base } = await signInToAccount(gh, tenant.slug, user);
    const res = await browser.get(`${base}/sessions`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(sessionIds(html)).toHaveLength(2);
    expect(html).toContain('127.0.0.7');
    expect(html).toContain('PhoneBrowser/7.1 (test)');
    expect(html).toContain('this browser');
    expect(html).not.toContain('name="decision"');
  });

  it('revoking a session ends its refresh token, audited with the user as actor', async () => {
    const user = await gh.user(tenant);
    const phone = await phoneApp();
    const tokens = await phone.login(user);
    await expect(phone.refresh(tokens.refresh_token!)).resolves.toHaveProperty('access_token');
    const { browser, base } = await signInToAccount(gh, tenant.slug, user);
    const html = await (await browser.get(`${base}/sessions`)).text();
    const phoneSession = /data-session-id="([^"]+)">\s*<p><strong>PhoneBrowser/.exec(html)![1];
    const res = await postForm(browser, `${base}/sessions/revoke`, html, { revoke: phoneSession });
    expect(res.status).toBe(200);
    expect(sessionIds(await res.text())).not.toContain(phoneSession);
    const latest = (await phone.refresh(tokens.refresh_token!).catch((e) => e)) as { error?: string };
    expect(latest.error).toBe('invalid_grant');
    expect((await audit('session.revoked')).find((e) => e.subject === `user:${user.id}`)).toMatchObject({ actor: `user:${user.id}`, details: { sessions: [phoneSession] } });
    // Gone already, or another user's: the same answer.
    expect((await postForm(browser, `${base}/sessions/revoke`, html, { revoke: phoneSession })).status).toBe(404);
  });

  it('revoking this browser\'s own session signs the account page out', async () => {
    const user = await gh.user(tenant);
    const { browser, base } = await signInToAccount(gh, tenant.slug, user);
    const html = await (await browser.get(`${base}/sessions`)).text();
    const [own] = sessionIds(html);
    expect((await postForm(browser, `${base}/sessions/revoke`, html, { revoke: own })).status).toBe(200);
    expect((await browser.get(`${base}/sessions`)).status).toBe(303);
  });

  it('an admin revoking the session signs the account page out too', async () => {
    const user = await gh.user(tenant);
    const { browser, base } = await signInToAccount(gh, tenant.slug, user);
    expect((await api('DELETE', `/tenants/${tenant.slug}/users/${user.id}/sessions`)).status).toBe(204);
    expect((await browser.get(base)).status).toBe(303);
  });
});

describe('password change', () => {
  it('refuses a wrong current password, and a new one the policy refuses, with their reasons', async () => {
    const user = await gh.user(tenant);
    const { browser, base } = await signInToAccount(gh, tenant.slug, user);
    const page = await (await browser.get(`${base}/password`)).text();
    expect(page).toContain('name="current_password"');
    expect(page).toContain('name="new_password"');
    const wrong = await postForm(browser, `${base}/password`, page, { current_password: 'not it', new_password: 'a fine new passphrase' });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('The current password is incorrect.');
    const short = await postForm(browser, `${base}/password`, page, { current_password: user.password, new_password: 'short' });
    expect(short.status).toBe(400);
    expect(await short.text()).toContain('The new password must be at least 8 characters.');
    expect((await audit('reauth.failed')).find((e) => e.subject === `user:${user.id}`)).toMatchObject({ outcome: 'failure', details: { reason: 'bad_password', purpose: 'password_change' } });
    expect((await audit('password.changed')).some((e) => e.subject === `user:${user.id}`)).toBe(false);
  });

  it('changes it: the new one works at the next login, the old one not; other sessions end, this one stays', async () => {
    const user = await gh.user(tenant);
    const phone = await phoneApp();
    const tokens = await phone.login(user);
    const { browser, base } = await signInToAccount(gh, tenant.slug, user);
    const page = await (await browser.get(`${base}/password`)).text();
    const next = 'a brand new passphrase';
    const res = await postForm(browser, `${base}/password`, page, { current_password: user.password, new_password: next });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('other session was signed out');
    expect((await audit('password.changed')).find((e) => e.subject === `user:${user.id}`)).toMatchObject({ actor: `user:${user.id}`, details: { by: 'self' } });
    expect((await browser.get(base)).status).toBe(200);
    expect(((await phone.refresh(tokens.refresh_token!).catch((e) => e)) as { error?: string }).error).toBe('invalid_grant');
    const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, ...app });
    await expect(rp.login(user)).rejects.toMatchObject({ status: 401 });
    await expect((await RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, ...app })).login({ email: user.email, password: next })).resolves.toHaveProperty('id_token');
  });
});
