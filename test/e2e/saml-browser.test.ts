import { existsSync } from 'node:fs';
import * as oidc from 'openid-client';
import { chromium, type Browser } from 'playwright-core';
import { CLI_ACTOR } from '../../src/deps.js';
import { createSamlConnection } from '../../src/domain/saml-connections/saml-connections.service.js';
import type { Tenant } from '../../src/domain/tenants/tenants.types.js';
import { startTestGatehouse, type TestGatehouse } from '../support/gatehouse.js';
import { makeKeys, startTestIdp, type RunningIdp } from '../support/saml/test-idp.js';

// Headless Chromium through a SAML login: the IdP (127.0.0.1) and Gatehouse (localhost) are
// different sites, so the ACS POST is a real cross-site form post, as from a company's IdP.
const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error('chromium is missing: .ci/run installs it (apt-get install chromium)');
const suite = available ? describe : describe.skip;

suite('SAML login in a real browser', () => {
  let gh: TestGatehouse;
  let browser: Browser;
  let idp: RunningIdp;
  let keys: ReturnType<typeof makeKeys>;
  let tenant: Tenant;
  let rp: { config: oidc.Configuration; redirectUri: string };

  beforeAll(async () => {
    gh = await startTestGatehouse();
    keys = makeKeys('idp');
    idp = await startTestIdp(keys.pairs.idp);
    tenant = await gh.tenant();
    await createSamlConnection(gh.deps, tenant, 'corp', {
      displayName: 'Corp SSO', idpMetadataXml: await idp.metadata(), emailDomains: ['corp.example'],
      attributeMapping: { email: 'email', name: 'displayName' }, groupRoleMapping: {}, allowIdpInitiated: false, upstreamMfaCounts: false,
    }, CLI_ACTOR);
    const app = await gh.client(tenant);
    rp = { config: await oidc.discovery(new URL(`${gh.url}/t/${tenant.slug}`), app.clientId, app.clientSecret, oidc.ClientSecretBasic(app.clientSecret!), { execute: [oidc.allowInsecureRequests] }), redirectUri: app.redirectUri };
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    idp?.stop();
    keys?.cleanup();
    await gh?.stop();
  });

  it('signs in through the "Sign in with Corp SSO" button, the IdP and consent, to a code openid-client redeems', async () => {
    const context = await browser.newContext();
    // The application's callback: the browser stops there with the code.
    await context.route(`${rp.redirectUri}**`, (route) => route.fulfill({ status: 200, body: 'callback' }));
    const page = await context.newPage();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    await page.goto(oidc.buildAuthorizationUrl(rp.config, {
      redirect_uri: rp.redirectUri, scope: 'openid email profile', prompt: 'consent', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).href);
    await page.click('a[data-connection="saml/corp"]');
    await page.waitForURL(`${idp.base}/sso?**`);
    await page.fill('input[name=email]', 'erin@corp.example');
    await page.fill('input[name=name]', 'Erin Browser');
    await page.click('button[type=submit]');
    await page.click('button[name=continue]'); // the IdP's form posts the response to the ACS
    await page.waitForURL(`${gh.url}/t/${tenant.slug}/interaction/**`);
    await page.click('button[name=decision][value=allow]');
    await page.waitForURL(`${rp.redirectUri}**`);
    const tokens = await oidc.authorizationCodeGrant(rp.config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()).toMatchObject({ email: 'erin@corp.example', name: 'Erin Browser', amr: ['fed'] });
    await context.close();
  }, 180_000);
});
