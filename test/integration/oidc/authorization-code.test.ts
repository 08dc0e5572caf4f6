import * as jose from 'jose';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

let gh: TestGatehouse;
let tenant: Tenant;
let app: { clientId: string; clientSecret?: string; redirectUri: string };
let user: { id: string; email: string; password: string };
let issuer: string;

beforeAll(async () => {
  gh = await startTestGatehouse();
  tenant = await gh.tenant();
  app = await gh.client(tenant);
  user = await gh.user(tenant);
  issuer = `${gh.url}/t/${tenant.slug}`;
});
afterAll(() => gh.stop());

const rp = () => RelyingParty.discover({ issuer, ...app });

describe('authorization code + PKCE through the pages', () => {
  it('serves discovery for the tenant issuer', async () => {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`);
    const doc = await res.json();
    expect(doc.issuer).toBe(issuer);
    expect(doc.token_endpoint).toBe(`${issuer}/token`);
    expect(doc.code_challenge_methods_supported).toEqual(['S256']);
    expect(doc.token_endpoint_auth_methods_supported).not.toContain('client_secret_jwt');
    expect(doc.response_types_supported).toEqual(['code']); // no implicit or hybrid flow
  });

  it('logs in and returns an id_token that verifies against the JWKS', async () => {
    const party = await rp();
    const tokens = await party.login(user);
    const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/jwks`));
    const { payload } = await jose.jwtVerify(tokens.id_token!, jwks, { issuer, audience: app.clientId });
    expect(payload.sub).toBe(user.id);
    expect(payload.email).toBe(user.email);
    expect(tokens.refresh_token).toBeTruthy();
    const info = await party.userinfo(tokens.access_token, user.id);
    expect(info).toMatchObject({ sub: user.id, email: user.email, email_verified: true, name: 'Test User' });
  });

  it('keeps a session only while its cookie signature holds', async () => {
    const party = await rp();
    await party.login(user);
    const silent = await party.startLogin({ scope: 'openid', prompt: 'none' });
    expect(new URL(silent.at).searchParams.get('code')).toBeTruthy();
    // One character of the session cookie's signature changed: the provider sees no session.
    const sig = `_session.${tenant.slug}.sig`;
    const pairs = new Map(party.browser.jar.header().split('; ').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
    const value = pairs.get(sig)!;
    expect(value).toMatch(/^[\w-]{27}$/); // HMAC-SHA1, base64url without padding (security/cookie-keys.ts)
    party.browser.jar.storeLines([`${sig}=${value.startsWith('A') ? 'B' : 'A'}${value.slice(1)}`]);
    const tampered = await party.startLogin({ scope: 'openid', prompt: 'none' });
    expect(new URL(tampered.at).searchParams.get('error')).toBe('login_required');
  });

  it('logs in through a pushed authorization request (RFC 9126), whose request_uri serves one login', async () => {
    const party = await rp();
    party.pushed = true;
    const first = await party.authorize(user);
    expect(first.url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect([...first.url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    const tokens = await party.redeem(first.callback, first.verifier, first.state);
    expect(tokens.claims()?.sub).toBe(user.id);
    // The same request_uri again, in a browser that has no session yet: refused before any page.
    const again = await rp();
    const reused = await again.browser.follow(first.url.toString(), new URL(issuer).origin);
    expect(reused.res.status).toBe(400);
    expect(await reused.res.text()).toContain('invalid_request_uri');
  });

  it('rotates refresh tokens and revokes the whole grant when a rotated one is reused', async () => {
    const party = await rp();
    const first = await party.login(user);
    const second = await party.refresh(first.refresh_token!);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    await expect(party.refresh(first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(party.introspect(second.access_token)).resolves.toMatchObject({ active: false });
    await expect(party.refresh(second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('introspects and revokes access tokens', async () => {
    const party = await rp();
    const tokens = await party.login(user);
    await expect(party.introspect(tokens.access_token)).resolves.toMatchObject({ active: true, sub: user.id, client_id: app.clientId });
    await party.revoke(tokens.access_token);
    await expect(party.introspect(tokens.access_token)).resolves.toMatchObject({ active: false });
  });

  it('refuses a wrong password with the same message as an unknown email, and audits both', async () => {
    const party = await rp();
    const wrong = await party.startLogin();
    const bad = await party.browser.post(`${wrong.at}/login`, { csrf: /name="csrf" value="([^"]+)"/.exec(wrong.html)![1], email: user.email, password: 'nope-nope-nope' });
    const unknown = await party.browser.post(`${wrong.at}/login`, { csrf: /name="csrf" value="([^"]+)"/.exec(wrong.html)![1], email: 'nobody@example.com', password: 'nope-nope-nope' });
    const [a, b] = [await bad.text(), await unknown.text()];
    expect(bad.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(a).toContain('Email or password is incorrect.');
    expect(b).toContain('Email or password is incorrect.');
    const events = await gh.deps.db('audit_events').where({ tenant_id: tenant.id, type: 'login.failed' });
    expect(events.map((e: any) => e.details.reason).sort()).toEqual(['bad_password', 'unknown_user']);
  });

  it('refuses a login form without its CSRF token', async () => {
    const party = await rp();
    const start = await party.startLogin();
    const res = await party.browser.post(`${start.at}/login`, { email: user.email, password: user.password });
    expect(res.status).toBe(403);
  });

  it('refuses a token request with a wrong client secret', async () => {
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${app.clientId}:wrong`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token&refresh_token=x',
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('answers 404 JSON for an unknown tenant', async () => {
    const res = await fetch(`${gh.url}/t/no-such-tenant/.well-known/openid-configuration`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not_found', error_description: 'There is no tenant "no-such-tenant" on this server.' });
  });

  it('ends the session on RP-initiated logout', async () => {
    const party = await rp();
    const tokens = await party.login(user);
    const end = new URL(`${issuer}/session/end`);
    end.searchParams.set('id_token_hint', tokens.id_token!);
    end.searchParams.set('post_logout_redirect_uri', 'http://127.0.0.1:9/bye');
    const page = await party.browser.get(end.toString());
    const html = await page.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1];
    const done = await party.browser.post(`${issuer}/session/end/confirm`, { xsrf, logout: 'yes' });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toMatch(/^http:\/\/127\.0\.0\.1:9\/bye/);
    // With the session gone the next authorization asks for a password again.
    const again = await party.startLogin();
    expect(again.html).toContain('name="password"');
  });

  it('writes no password or secret to the logs', () => {
    const all = logLines.join('\n');
    expect(all).not.toContain(user.password);
    expect(all).not.toContain(app.clientSecret!);
  });
});
