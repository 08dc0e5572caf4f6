import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseCidr } from '../../src/config/cidr.js';
import { CLI_ACTOR } from '../../src/deps.js';
import { createOidcConnection } from '../../src/domain/oidc-connections/oidc-connections.service.js';
import type { Tenant } from '../../src/domain/tenants/tenants.types.js';
import { startTestGatehouse, type TestGatehouse } from '../support/gatehouse.js';

// Headless Chromium through a federated login: tenant A's users sign in at tenant B.
const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error('chromium is missing: .ci/run installs it (apt-get install chromium)');
const suite = available ? describe : describe.skip;

suite('federated login in a real browser', () => {
  let gh: TestGatehouse;
  let browser: Browser;
  let rp: http.Server;
  let rpOrigin: string;
  let config: oidc.Configuration;
  let a: Tenant;
  let b: Tenant;
  const user = { email: 'lena@corp.example', password: 'correct horse battery staple' };

  beforeAll(async () => {
    gh = await startTestGatehouse({ outboundAllow: ['127.0.0.0/8', '::1/128'].map((c) => parseCidr(c)!) });
    rp = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><title>callback</title><p id="done">back at the app</p>');
    });
    await new Promise<void>((resolve) => rp.listen(0, '127.0.0.1', resolve));
    rpOrigin = `http://127.0.0.1:${(rp.address() as AddressInfo).port}`;
    b = await gh.tenant();
    a = await gh.tenant();
    await gh.user(b, { email: user.email, password: user.password, name: 'Lena Corp' });
    const upstream = await gh.client(b, { client_name: 'Portal', redirect_uris: [`${gh.url}/t/${a.slug}/oidc/corp/callback`] });
    await createOidcConnection(gh.deps, a, 'corp', {
      displayName: 'Corp', issuer: `${gh.url}/t/${b.slug}`, clientId: upstream.clientId, clientSecret: upstream.clientSecret!,
      tokenEndpointAuthMethod: 'client_secret_basic', scopes: ['openid', 'profile', 'email'], emailDomains: ['corp.example'],
      claimMapping: {}, groupRoleMapping: {}, trustEmail: false, upstreamMfaCounts: false,
    }, CLI_ACTOR);
    const app = await gh.client(a, { redirect_uris: [`${rpOrigin}/cb`] });
    config = await oidc.discovery(new URL(`${gh.url}/t/${a.slug}`), app.clientId, app.clientSecret, oidc.ClientSecretBasic(app.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => rp?.close(resolve));
    await gh?.stop();
  });

  async function authorizationUrl(params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: `${rpOrigin}/cb`, scope: 'openid email profile', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
    });
    return { url: url.toString(), verifier, state };
  }

  /** Signs in at B's page, then allows at each consent page, until the app's callback. */
  async function signInUpstreamAndReturn(page: Page) {
    await page.waitForURL(`${gh.url}/t/${b.slug}/interaction/**`);
    await page.fill('input[name=email]', user.email);
    await page.fill('input[name=password]', user.password);
    await page.click('button[type=submit]');
    for (let i = 0; i < 3 && !page.url().startsWith(rpOrigin); i++) {
      const allow = page.locator('button[type=submit][name=decision][value=allow]');
      // Generous: on a loaded machine a page of this chain has taken more than 15 s.
      await Promise.race([allow.waitFor({ timeout: 45_000 }), page.waitForURL(`${rpOrigin}/cb**`, { timeout: 45_000 })]).catch(() => {});
      if (page.url().startsWith(rpOrigin)) break;
      await allow.click();
    }
    await page.waitForURL(`${rpOrigin}/cb**`);
  }

  it('sends an email of the federated domain to the upstream provider (home-realm discovery)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const { url, verifier, state } = await authorizationUrl();
    await page.goto(url);
    // The password field is not needed for a federated address.
    await page.fill('input[name=email]', user.email);
    await page.click('button[type=submit]');
    await page.waitForURL(`${gh.url}/t/${b.slug}/interaction/**`);
    expect(await page.inputValue('input[name=email]')).toBe(user.email); // login_hint carried upstream
    await signInUpstreamAndReturn(page);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()).toMatchObject({ email: user.email, name: 'Lena Corp', amr: ['fed'] });
    await context.close();
  }, 180_000);

  it('signs in with the "Sign in with Corp" button, and skips the page with idp_hint', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const first = await authorizationUrl();
    await page.goto(first.url);
    await page.click('a[data-connection="oidc/corp"]');
    await signInUpstreamAndReturn(page);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: first.verifier, expectedState: first.state });
    expect(tokens.claims()!.email).toBe(user.email);
    await context.close();

    const fresh = await browser.newContext();
    const hinted = await fresh.newPage();
    await hinted.goto((await authorizationUrl({ idp_hint: 'corp' })).url);
    await hinted.waitForURL(`${gh.url}/t/${b.slug}/interaction/**`);
    expect(await hinted.locator('input[name=password]').count()).toBe(1);
    await fresh.close();
  }, 180_000);
});
