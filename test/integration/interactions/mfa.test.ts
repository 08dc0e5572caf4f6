import * as jose from 'jose';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import type { Gatehouse } from '../../../src/app.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { csrfOf } from '../../support/browser.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { startSecondNode } from '../../support/nodes.js';
import { RelyingParty } from '../../support/relying-party.js';
import { oathtoolCode } from '../../support/totp.js';

const LOA1 = 'urn:gatehouse:loa:1';
const LOA2 = 'urn:gatehouse:loa:2';

let gh: TestGatehouse;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;

beforeAll(async () => {
  gh = await startTestGatehouse();
  api = await systemAdminApi(gh);
});
afterAll(() => gh.stop());

async function tenantWith(settings: Record<string, unknown>) {
  const tenant = await gh.tenant();
  expect((await api('PATCH', `/tenants/${tenant.slug}`, settings)).status).toBe(200);
  return (await findTenantBySlug(gh.deps.db, tenant.slug))!;
}

const rpOf = async (tenant: Tenant, base = gh.url) => {
  const app = await gh.client(tenant);
  return RelyingParty.discover({ issuer: `${base}/t/${tenant.slug}`, ...app });
};

/** Enrolls a user through the login of a tenant that requires MFA; returns seed and recovery codes. */
async function enroll(tenant: Tenant, user: { email: string; password: string }) {
  const rp = await rpOf(tenant);
  let secret = '';
  let codes: string[] = [];
  const tokens = await rp.login(user, { scope: 'openid' }, {
    enrolled: (s) => { secret = s; },
    enrollCode: (s) => oathtoolCode(s),
    recoveryCodes: (c) => { codes = c; },
  });
  return { rp, tokens, secret, codes };
}

/** The step a fresh login reaches after the password, without going further. */
async function toCodeForm(rp: RelyingParty, user: { email: string; password: string }, origin = gh.url) {
  const start = await rp.startLogin({ scope: 'openid' });
  const res = await rp.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email: user.email, password: user.password });
  expect(res.status).toBe(303);
  const page = await rp.browser.follow(new URL(res.headers.get('location')!, start.at).toString(), origin);
  return { at: page.url, html: await page.res.text() };
}

describe('TOTP enrollment and login', () => {
  it('makes a user of an mfa_required tenant enroll with a code from another implementation, then shows 10 recovery codes once', async () => {
    const tenant = await tenantWith({ mfa_required: true });
    const user = await gh.user(tenant);
    const { tokens, secret, codes } = await enroll(tenant, user);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    const claims = jose.decodeJwt(tokens.id_token!);
    expect(claims.acr).toBe(LOA2);
    expect([...(claims.amr as string[])].sort()).toEqual(['mfa', 'otp', 'pwd']);
    // The seed is stored encrypted; neither it nor a recovery code is in the database in clear or in a log.
    const rows = JSON.stringify(await gh.deps.db('user_mfa_factors').where({ tenant_id: tenant.id }));
    const sheet = JSON.stringify(await gh.deps.db('user_recovery_codes').where({ tenant_id: tenant.id }));
    expect(rows).not.toContain(secret);
    for (const code of codes) expect(sheet).not.toContain(code.replace('-', ''));
    const logs = logLines.join('\n');
    expect(logs).not.toContain(secret);
    for (const code of codes) expect(logs).not.toContain(code);
    const audit = await gh.deps.db('audit_events').where({ tenant_id: tenant.id, subject: `user:${user.id}` }).select('type');
    expect(audit.map((a) => a.type)).toEqual(expect.arrayContaining(['mfa.enrolled', 'login.succeeded']));
  });

  it('asks the second factor at every later login and accepts a code once', async () => {
    const tenant = await tenantWith({ mfa_required: true });
    const user = await gh.user(tenant);
    const { secret } = await enroll(tenant, user);
    const rp = await rpOf(tenant);
    const { at, html } = await toCodeForm(rp, user);
    expect(html).toContain('name="code"');
    expect(html).not.toContain('data-testid="totp-secret"');
    // The code used at enrollment (same step) is refused: each code once.
    const enrolled = oathtoolCode(secret);
    const replay = await rp.browser.post(`${at}/mfa`, { csrf: csrfOf(html), code: enrolled });
    const nextStep = oathtoolCode(secret, 30);
    // ±1 step: the next step's code is accepted now.
    const ok = replay.status === 303 ? replay : await rp.browser.post(`${at}/mfa`, { csrf: csrfOf(html), code: nextStep });
    if (replay.status !== 303) expect(replay.status).toBe(401);
    expect(ok.status).toBe(303);
    const other = await rpOf(tenant);
    const second = await toCodeForm(other, user);
    const again = await other.browser.post(`${second.at}/mfa`, { csrf: csrfOf(second.html), code: replay.status === 303 ? enrolled : nextStep });
    expect(again.status).toBe(401);
    expect(await again.text()).toContain('The code is incorrect.');
  });

  it('refuses a code replayed on a second node (shared store)', async () => {
    if (!process.env.DATABASE_URL || !process.env.REDIS_URL) return; // two nodes need PostgreSQL and Redis
    const tenant = await tenantWith({ mfa_required: true });
    const user = await gh.user(tenant);
    const { secret } = await enroll(tenant, user);
    const nodeB: Gatehouse = (await startSecondNode(gh, { sharedKv: true }))!;
    try {
      const code = oathtoolCode(secret, 30);
      const rpA = await rpOf(tenant);
      const rpB = await rpOf(tenant, nodeB.url);
      const onA = await toCodeForm(rpA, user);
      const onB = await toCodeForm(rpB, user, nodeB.url);
      expect((await rpA.browser.post(`${onA.at}/mfa`, { csrf: csrfOf(onA.html), code })).status).toBe(303);
      expect((await rpB.browser.post(`${onB.at}/mfa`, { csrf: csrfOf(onB.html), code })).status).toBe(401);
    } finally {
      await nodeB.close();
    }
  });
});

describe('recovery codes', () => {
  it('lets a user who lost the phone in with a recovery code once, and says how many remain', async () => {
    const tenant = await tenantWith({ mfa_required: true });
    const user = await gh.user(tenant);
    const { codes } = await enroll(tenant, user);
    const rp = await rpOf(tenant);
    let page = '';
    const tokens = await rp.login(user, { scope: 'openid' }, { code: () => codes[3].toUpperCase(), recoveryCodes: (_c, html) => { page = html; } });
    expect(page).toMatch(/<strong>9<\/strong> codes remain/);
    expect(jose.decodeJwt(tokens.id_token!).acr).toBe(LOA2);
    const audit = await gh.deps.db('audit_events').where({ tenant_id: tenant.id, type: 'mfa.recovery_used' });
    expect(audit).toHaveLength(1);
    expect(audit[0].details).toMatchObject({ remaining: 9 });
    const again = await rpOf(tenant);
    const form = await toCodeForm(again, user);
    expect((await again.browser.post(`${form.at}/mfa`, { csrf: csrfOf(form.html), code: codes[3] })).status).toBe(401);
  });
});

describe('step-up and claims', () => {
  it('lists acr_values_supported in discovery', async () => {
    const tenant = await gh.tenant();
    const discovery = await (await fetch(`${gh.url}/t/${tenant.slug}/.well-known/openid-configuration`)).json();
    expect(discovery.acr_values_supported).toEqual([LOA1, LOA2]);
  });

  it('gives loa:1 and amr pwd to a password login; acr_values loa:2 asks the password again before a first factor is enrolled', async () => {
    const tenant = await tenantWith({ registration: { enabled: true } });
    const user = await gh.user(tenant);
    const rp = await rpOf(tenant);
    const first = await rp.login(user, { scope: 'openid' });
    expect(jose.decodeJwt(first.id_token!)).toMatchObject({ acr: LOA1, amr: ['pwd'] });
    // A session alone never binds a new factor: whoever holds it must know the password.
    const start = await rp.startLogin({ scope: 'openid', acr_values: LOA2 });
    expect(start.html).toContain('name="password"');
    // The form says why and starts with the signed-in account's email (README "Two-step verification").
    expect(start.html).toContain('Sign in again to set up two-step verification');
    expect(start.html).toMatch(new RegExp(`name="email"[^>]*value="${user.email.replace(/[.+]/g, '\\$&')}"`));
    expect(start.html).not.toContain('/signup');
    let secret = '';
    const stepped = await rp.login(user, { scope: 'openid', acr_values: LOA2 }, { enrolled: (s) => { secret = s; }, enrollCode: (s) => oathtoolCode(s) });
    expect(secret).not.toBe('');
    const claims = jose.decodeJwt(stepped.id_token!);
    expect(claims.acr).toBe(LOA2);
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    // The session is now at loa:2: asking again needs no further step.
    const again = await rp.startLogin({ scope: 'openid', acr_values: LOA2, prompt: 'none' });
    expect(new URL(again.at).searchParams.get('code')).toBeTruthy();
  });

  it('asks a signed-in browser to sign in again (prompt=login) with its email filled in; a new browser gets the empty form', async () => {
    const tenant = await gh.tenant();
    const user = await gh.user(tenant);
    const rp = await rpOf(tenant);
    const fresh = await rp.startLogin({ scope: 'openid' });
    expect(fresh.html).not.toContain('Please sign in again');
    expect(fresh.html).toMatch(/name="email"[^>]*value=""/);
    await rp.login(user, { scope: 'openid' });
    const again = await rp.startLogin({ scope: 'openid', prompt: 'login' });
    expect(again.html).toContain('Please sign in again to continue.');
    expect(again.html).toContain(`value="${user.email}"`);
    // The client's login_hint comes first; a disabled account's email is never shown.
    const hinted = await rp.startLogin({ scope: 'openid', prompt: 'login', login_hint: 'someone.else@example.com' });
    expect(hinted.html).toContain('value="someone.else@example.com"');
    await gh.deps.db('users').where({ tenant_id: tenant.id, id: user.id }).update({ disabled: true });
    const disabled = await rp.startLogin({ scope: 'openid', prompt: 'login' });
    expect(disabled.html).not.toContain(user.email);
    await gh.deps.db('users').where({ tenant_id: tenant.id, id: user.id }).update({ disabled: false });
    // The account's email stays editable, and the sign-in completes as any other.
    const tokens = await rp.login(user, { scope: 'openid', prompt: 'login' });
    expect(jose.decodeJwt(tokens.id_token!).sub).toBe(user.id);
  });

  it('steps a loa:1 session of a user with a factor up with the code alone', async () => {
    const tenant = await gh.tenant();
    const user = await gh.user(tenant);
    const setup = await rpOf(tenant);
    let secret = '';
    await setup.login(user, { scope: 'openid', acr_values: LOA2 }, { enrolled: (s) => { secret = s; }, enrollCode: (s) => oathtoolCode(s) });
    // A fresh browser with a one-factor session: an admin turned the factor requirement on later.
    const rp = await rpOf(tenant);
    await gh.deps.db('user_mfa_factors').where({ tenant_id: tenant.id, user_id: user.id }).update({ confirmed_at: null });
    await rp.login(user, { scope: 'openid' });
    await gh.deps.db('user_mfa_factors').where({ tenant_id: tenant.id, user_id: user.id }).update({ confirmed_at: new Date() });
    const start = await rp.startLogin({ scope: 'openid', acr_values: LOA2 });
    expect(start.html).not.toContain('name="password"');
    expect(start.html).toContain('name="code"');
    const stepped = await rp.login(user, { scope: 'openid', acr_values: LOA2 }, { code: () => oathtoolCode(secret, 30) });
    expect(jose.decodeJwt(stepped.id_token!)).toMatchObject({ acr: LOA2, amr: expect.arrayContaining(['pwd', 'otp', 'mfa']) });
  });
});

describe('lockout on every credential', () => {
  it('counts wrong codes toward the lockout, answers a locked user like a wrong code, and an admin unlock and MFA reset work', async () => {
    const tenant = await tenantWith({ mfa_required: true, lockout: { max_failed_attempts: 3, window_seconds: 600, duration_seconds: 600 } });
    const user = await gh.user(tenant);
    const { secret } = await enroll(tenant, user);
    const rp = await rpOf(tenant);
    const form = await toCodeForm(rp, user);
    for (let i = 0; i < 3; i++) {
      const res = await rp.browser.post(`${form.at}/mfa`, { csrf: csrfOf(form.html), code: '000000' });
      expect(res.status).toBe(401);
    }
    const locked = await rp.browser.post(`${form.at}/mfa`, { csrf: csrfOf(form.html), code: oathtoolCode(secret, 30) });
    expect(locked.status).toBe(401);
    expect(await locked.text()).toContain('The code is incorrect.');
    // The password form answers the locked account as it answers a wrong password.
    const fresh = await rpOf(tenant);
    const start = await fresh.startLogin({ scope: 'openid' });
    const res = await fresh.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email: user.email, password: user.password });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('Email or password is incorrect.');
    const types = (await gh.deps.db('audit_events').where({ tenant_id: tenant.id, subject: `user:${user.id}` }).select('type')).map((a) => a.type);
    expect(types.filter((t) => t === 'mfa.failed').length).toBeGreaterThanOrEqual(4);
    expect(types).toContain('account.locked');

    expect((await api('POST', `/tenants/${tenant.slug}/users/${user.id}/unlock`)).status).toBeLessThan(300);
    // A lost phone: the reset also ends the sessions and refresh tokens made with the old factor.
    const before = await rpOf(tenant);
    const held = await before.login(user, { scope: 'openid offline_access' }, { code: () => oathtoolCode(secret, 30) });
    expect((await api('DELETE', `/tenants/${tenant.slug}/users/${user.id}/mfa`)).status).toBeLessThan(300);
    await expect(before.refresh(held.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // With the factor reset, the next login enrolls anew.
    const after = await enroll(tenant, user);
    expect(after.secret).not.toBe(secret);
  });
});

describe('page headers', () => {
  it('forbids framing the login page and inline scripts', async () => {
    const tenant = await gh.tenant();
    const rp = await rpOf(tenant);
    const { res } = await rp.startLogin({ scope: 'openid' });
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(res.headers.get('content-security-policy')).not.toMatch(/script-src[^;]*unsafe-inline/);
  });
});
