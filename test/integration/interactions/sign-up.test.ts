import * as jose from 'jose';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { csrfOf } from '../../support/browser.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

let gh: TestGatehouse;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;

beforeAll(async () => {
  gh = await startTestGatehouse();
  api = await systemAdminApi(gh);
});
afterAll(() => gh.stop());

async function tenantWith(settings: Record<string, unknown>) {
  const tenant = await gh.tenant();
  if (Object.keys(settings).length) expect((await api('PATCH', `/tenants/${tenant.slug}`, settings)).status).toBe(200);
  return (await findTenantBySlug(gh.deps.db, tenant.slug))!;
}

async function rpOf(tenant: Tenant) {
  const app = await gh.client(tenant);
  return RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, ...app });
}

/** prompt=create → the sign-up form → POST; returns the answer and where the flow stands. */
async function signUp(rp: RelyingParty, form: { email: string; password: string; name?: string }) {
  const start = await rp.startLogin({ scope: 'openid email profile', prompt: 'create' });
  expect(start.html).toContain('Create account');
  const res = await rp.browser.post(`${start.at}/signup`, { csrf: csrfOf(start.html), name: 'New Person', ...form });
  return { res, start };
}

async function follow(rp: RelyingParty, res: Response, at: string) {
  const next = await rp.browser.follow(new URL(res.headers.get('location')!, at).toString(), gh.url);
  return { at: next.url, html: next.res.status === 200 ? await next.res.text() : '', status: next.res.status };
}

async function consentAndRedeem(rp: RelyingParty, page: { at: string; html: string }, start: { verifier: string; state: string }) {
  expect(page.html).toContain('name="decision"');
  const res = await rp.browser.post(`${page.at}/confirm`, { csrf: csrfOf(page.html), decision: 'allow' });
  const done = await rp.browser.follow(new URL(res.headers.get('location')!, page.at).toString(), gh.url);
  return rp.redeem(new URL(done.url), start.verifier, start.state);
}

describe('sign-up (prompt=create)', () => {
  it('is refused, and not offered, where the tenant has no registration', async () => {
    const tenant = await tenantWith({});
    const rp = await rpOf(tenant);
    const start = await rp.startLogin({ scope: 'openid', prompt: 'create' });
    expect(new URL(start.at).searchParams.get('error')).toBe('invalid_request');
    const login = await rp.startLogin({ scope: 'openid' });
    expect(login.html).not.toContain('Create account');
    const discovery = await (await fetch(`${gh.url}/t/${tenant.slug}/.well-known/openid-configuration`)).json();
    expect(discovery.prompt_values_supported ?? []).not.toContain('create');
  });

  it('creates the account and continues into the same authorization request', async () => {
    const tenant = await tenantWith({ registration: { enabled: true } });
    const discovery = await (await fetch(`${gh.url}/t/${tenant.slug}/.well-known/openid-configuration`)).json();
    expect(discovery.prompt_values_supported).toContain('create');
    const rp = await rpOf(tenant);
    const { res, start } = await signUp(rp, { email: 'New.Person@Example.com', password: 'a long and unusual passphrase' });
    expect(res.status).toBe(303);
    const tokens = await consentAndRedeem(rp, await follow(rp, res, start.at), start);
    const claims = jose.decodeJwt(tokens.id_token!);
    expect(claims).toMatchObject({ email: 'New.Person@Example.com', email_verified: false, name: 'New Person', acr: 'urn:gatehouse:loa:1' });
    const user = await gh.deps.db('users').where({ tenant_id: tenant.id, id: claims.sub }).first();
    expect(user.password_hash).toMatch(/^\$2[aby]\$/);
    const types = (await gh.deps.db('audit_events').where({ tenant_id: tenant.id, subject: `user:${claims.sub}` }).select('type')).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['user.created', 'login.succeeded']));
    // The new account signs in like any other.
    expect((await (await rpOf(tenant)).login({ email: 'new.person@example.com', password: 'a long and unusual passphrase' }, { scope: 'openid' })).id_token).toBeTruthy();
  });

  it('applies the password policy with a message naming the rule, and keeps what was typed', async () => {
    const tenant = await tenantWith({ registration: { enabled: true }, password_policy: { min_length: 12 } });
    const rp = await rpOf(tenant);
    const { res } = await signUp(rp, { email: 'short@example.com', password: 'short' });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('at least 12 characters');
    expect(html).toContain('value="short@example.com"');
    expect(await gh.deps.db('users').where({ tenant_id: tenant.id, email_normalized: 'short@example.com' })).toHaveLength(0);
  });

  it('is reached from the login page\'s "Create account" link', async () => {
    const tenant = await tenantWith({ registration: { enabled: true } });
    const rp = await rpOf(tenant);
    const start = await rp.startLogin({ scope: 'openid' });
    const link = /href="([^"]+\/signup)"/.exec(start.html)?.[1];
    expect(link).toBeDefined();
    const page = await rp.browser.get(new URL(link!, start.at).toString());
    const html = await page.text();
    expect(html).toContain('name="password"');
    const res = await rp.browser.post(`${start.at}/signup`, { csrf: csrfOf(html), email: 'linked@example.com', password: 'another long passphrase', name: '' });
    expect(res.status).toBe(303);
    expect((await follow(rp, res, start.at)).html).toContain('name="decision"');
  });
});

describe('require_verified_email', () => {
  it('holds a new account on the verification page until the address is verified, then goes on', async () => {
    const tenant = await tenantWith({ registration: { enabled: true }, require_verified_email: true });
    const rp = await rpOf(tenant);
    const { res, start } = await signUp(rp, { email: 'verify-me@example.com', password: 'a long and unusual passphrase' });
    const page = await follow(rp, res, start.at);
    expect(page.html).toContain('Verify your email');
    const early = await rp.browser.post(`${page.at}/verify-email`, { csrf: csrfOf(page.html), continue: '1' });
    expect(early.status).toBe(400);
    // What the mailed link does (mail/verification.ts has its own tests).
    await gh.deps.db('users').where({ tenant_id: tenant.id, email_normalized: 'verify-me@example.com' }).update({ email_verified: true });
    const after = await rp.browser.post(`${page.at}/verify-email`, { csrf: csrfOf(page.html), continue: '1' });
    expect(after.status).toBe(303);
    const tokens = await consentAndRedeem(rp, await follow(rp, after, page.at), start);
    expect(jose.decodeJwt(tokens.id_token!)).toMatchObject({ email_verified: true });
  });

  it('answers a sign-up with an address that has an account exactly as a new one', async () => {
    const tenant = await tenantWith({ registration: { enabled: true }, require_verified_email: true });
    await gh.user(tenant, { email: 'taken@example.com' });
    const first = await rpOf(tenant);
    const taken = await signUp(first, { email: 'taken@example.com', password: 'a long and unusual passphrase' });
    const second = await rpOf(tenant);
    const fresh = await signUp(second, { email: 'fresh@example.com', password: 'a long and unusual passphrase' });
    expect(taken.res.status).toBe(fresh.res.status);
    const shape = (html: string) => html.replace(/value="[^"]*"/g, '').replace(/interaction\/[^/"]+/g, 'interaction/UID');
    expect(shape((await follow(first, taken.res, taken.start.at)).html)).toBe(shape((await follow(second, fresh.res, fresh.start.at)).html));
  });

  it('stops an unverified user at login before any token', async () => {
    const tenant = await tenantWith({ require_verified_email: true });
    const user = await gh.user(tenant, { emailVerified: false });
    const rp = await rpOf(tenant);
    await expect(rp.login(user, { scope: 'openid' })).rejects.toThrow(/did not reach the callback/);
    const start = await rp.startLogin({ scope: 'openid' });
    const res = await rp.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email: user.email, password: user.password });
    const page = await follow(rp, res, start.at);
    expect(page.html).toContain('Verify your email');
    expect(page.html).toContain('name="resend"');
  });
});
