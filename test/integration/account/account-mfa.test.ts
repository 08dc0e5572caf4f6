import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { postForm, signInToAccount } from '../../support/account.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { oathtoolCode } from '../../support/totp.js';

let gh: TestGatehouse;
let tenant: Tenant;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;

beforeAll(async () => {
  gh = await startTestGatehouse();
  tenant = await gh.tenant();
  api = await systemAdminApi(gh);
});
afterAll(() => gh.stop());
afterEach(() => {
  jest.restoreAllMocks();
});

const audit = async (type: string) => (await api('GET', `/tenants/${tenant.slug}/audit-events?type=${type}`)).body.items as any[];
const secretOf = (html: string) => /data-testid="totp-secret">([A-Z2-7]+)</.exec(html)?.[1];
const codesOf = (html: string) => [...html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]);
/** The clock of the whole process moves on: the sign-in is no longer fresh (5 minutes). */
const later = (minutes: number) => {
  const now = Date.now.bind(Date);
  jest.spyOn(Date, 'now').mockImplementation(() => now() + minutes * 60_000);
};

describe('two-step verification on the account page', () => {
  it('enrolls TOTP right after signing in, with no password asked, and shows the recovery codes once', async () => {
    const user = await gh.user(tenant);
    const { browser, base } = await signInToAccount(gh, tenant.slug, user);
    const page = await (await browser.get(`${base}/mfa`)).text();
    expect(page).not.toContain('name="current_password"');
    const begin = await postForm(browser, `${base}/mfa/totp`, page, { enroll: 'totp' });
    expect(begin.status).toBe(200);
    const enroll = await begin.text();
    const secret = secretOf(enroll)!;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(enroll).toMatch(/<img src="data:image\/png;base64,/);
    const enrollment = /name="enrollment" value="([^"]+)"/.exec(enroll)![1];
    const wrong = await postForm(browser, `${base}/mfa/totp/confirm`, enroll, { enrollment, code: '000000' === oathtoolCode(secret) ? '111111' : '000000' });
    expect(wrong.status).toBe(401);
    expect(secretOf(await wrong.text())).toBe(secret);
    const done = await postForm(browser, `${base}/mfa/totp/confirm`, enroll, { enrollment, code: oathtoolCode(secret) });
    expect(done.status).toBe(200);
    const sheet = await done.text();
    expect(sheet).toContain('data-testid="recovery-codes"');
    expect(codesOf(sheet)).toHaveLength(10);
    expect(sheet).toMatch(/button type="submit" name="continue"/);
    expect((await audit('mfa.enrolled')).find((e) => e.subject === `user:${user.id}`)).toMatchObject({ actor: `user:${user.id}` });
    const cont = await postForm(browser, `${base}/mfa/done`, sheet, { continue: '1' });
    expect(cont.status).toBe(303);
    const status = await (await browser.get(`${base}/mfa`)).text();
    expect(status).toContain('10</strong> recovery codes left');
    expect(codesOf(status)).toEqual([]);
    // The next sign-in asks for the code.
    let asked = 0;
    const again = await signInToAccount(gh, tenant.slug, user, { code: () => (asked++, oathtoolCode(secret, 30)) });
    expect(asked).toBe(1);
    expect(again.status).toBe(200);
  });

  it('after five minutes asks for the current password to renew recovery codes or remove TOTP', async () => {
    const user = await gh.user(tenant);
    const { browser, base } = await signInToAccount(gh, tenant.slug, user);
    let page = await (await browser.get(`${base}/mfa`)).text();
    const enroll = await (await postForm(browser, `${base}/mfa/totp`, page, {})).text();
    const enrollment = /name="enrollment" value="([^"]+)"/.exec(enroll)![1];
    const secret = secretOf(enroll)!;
    expect((await postForm(browser, `${base}/mfa/totp/confirm`, enroll, { enrollment, code: oathtoolCode(secret) })).status).toBe(200);

    later(6);
    page = await (await browser.get(`${base}/mfa`)).text();
    expect(page).toContain('name="current_password"');
    expect(page).toContain('login?fresh=1');
    const refused = await postForm(browser, `${base}/mfa/recovery`, page, { renew: '1' });
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain('The current password is incorrect.');
    const renewed = await postForm(browser, `${base}/mfa/recovery`, page, { renew: '1', current_password: user.password });
    expect(renewed.status).toBe(200);
    expect(codesOf(await renewed.text())).toHaveLength(10);
    expect((await audit('mfa.recovery_renewed')).find((e) => e.subject === `user:${user.id}`)).toMatchObject({ actor: `user:${user.id}` });

    expect((await postForm(browser, `${base}/mfa/totp/remove`, page, { remove: 'totp', current_password: 'wrong' })).status).toBe(401);
    expect(await (await browser.get(`${base}/mfa`)).text()).toContain('data-testid="mfa-status">On');
    const removed = await postForm(browser, `${base}/mfa/totp/remove`, page, { remove: 'totp', current_password: user.password });
    expect(removed.status).toBe(200);
    expect(await removed.text()).toContain('data-testid="mfa-status">Off');
    expect((await audit('mfa.removed')).find((e) => e.subject === `user:${user.id}`)).toMatchObject({ actor: `user:${user.id}` });
    expect((await audit('reauth.failed')).filter((e) => e.subject === `user:${user.id}`).map((e) => e.details.purpose).sort()).toEqual(['mfa_recovery_renew', 'mfa_remove']);
  });

  it('a stale sign-in may sign in again (prompt=login) instead of typing the password into the form', async () => {
    const user = await gh.user(tenant);
    const { browser, base } = await signInToAccount(gh, tenant.slug, user);
    later(10);
    const page = await (await browser.get(`${base}/mfa`)).text();
    const link = /href="([^"]*login\?fresh=1[^"]*)"/.exec(page)![1].replace(/&amp;/g, '&');
    const again = await signInToAccount(gh, tenant.slug, user, { browser, start: new URL(link, gh.url).toString() });
    // The tenant login asked for the password although its session was alive.
    expect(again.url).toBe(`${base}/mfa`);
    expect(again.html).not.toContain('name="current_password"');
    expect((await postForm(browser, `${base}/mfa/totp`, again.html, {})).status).toBe(200);
  });

  it('refuses to turn TOTP off where the tenant requires it', async () => {
    const strict = await gh.tenant();
    expect((await api('PATCH', `/tenants/${strict.slug}`, { mfa_required: true })).status).toBe(200);
    const user = await gh.user(strict);
    let secret = '';
    // The tenant login makes the user enrol first; the account page then refuses removal.
    const { RelyingParty } = await import('../../support/relying-party.js');
    const app = await gh.client(strict);
    await (await RelyingParty.discover({ issuer: `${gh.url}/t/${strict.slug}`, ...app })).login(user, {}, { enrolled: (s) => (secret = s), enrollCode: (s) => oathtoolCode(s) });
    const { browser, base } = await signInToAccount(gh, strict.slug, user, { code: () => oathtoolCode(secret, 30) });
    const page = await (await browser.get(`${base}/mfa`)).text();
    expect(page).not.toContain('/mfa/totp/remove');
    const res = await postForm(browser, `${base}/mfa/totp/remove`, page, { remove: 'totp' });
    expect(res.status).toBe(409);
  });
});
