import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import { chromium, type Browser } from 'playwright-core';
import { systemAdminApi } from '../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../support/gatehouse.js';
import { oathtoolCode } from '../support/totp.js';

// Headless Chromium on the pages, through DESIGN.md's stable field names only.
const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error('chromium is missing: .ci/run installs it (apt-get install chromium)');
const suite = available ? describe : describe.skip;

suite('login with TOTP enrollment and recovery in a real browser', () => {
  let gh: TestGatehouse;
  let browser: Browser;
  let rp: http.Server;
  let rpOrigin: string;
  let config: oidc.Configuration;
  let tenantSlug: string;
  const user = { email: 'browser-user@example.com', password: 'correct horse battery staple' };

  beforeAll(async () => {
    gh = await startTestGatehouse();
    // The relying party's pages: a callback that says it was reached, and a page that frames the login.
    rp = http.createServer((req, res) => {
      if (req.url?.startsWith('/frame?')) {
        res.setHeader('content-type', 'text/html');
        res.end(`<!doctype html><iframe id="f" src="${new URL(req.url, 'http://x').searchParams.get('src')}" width="400" height="400"></iframe>`);
        return;
      }
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><title>callback</title><p id="done">back at the app</p>');
    });
    await new Promise<void>((resolve) => rp.listen(0, '127.0.0.1', resolve));
    rpOrigin = `http://127.0.0.1:${(rp.address() as AddressInfo).port}`;
    const api = await systemAdminApi(gh);
    const tenant = await gh.tenant();
    tenantSlug = tenant.slug;
    expect((await api('PATCH', `/tenants/${tenant.slug}`, { mfa_required: true })).status).toBe(200);
    await gh.user(tenant, { email: user.email, password: user.password });
    const app = await gh.client(tenant, { redirect_uris: [`${rpOrigin}/cb`] });
    config = await oidc.discovery(new URL(`${gh.url}/t/${tenant.slug}`), app.clientId, app.clientSecret, oidc.ClientSecretBasic(app.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => rp?.close(resolve));
    await gh?.stop();
  });

  async function authorizationUrl() {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: `${rpOrigin}/cb`, scope: 'openid email', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    return { url: url.toString(), verifier, state };
  }

  async function redeem(landed: string, verifier: string, state: string) {
    return oidc.authorizationCodeGrant(config, new URL(landed), { pkceCodeVerifier: verifier, expectedState: state });
  }

  let recoveryCodes: string[] = [];

  it('enrolls with the QR page, shows the recovery sheet, and logs in', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const { url, verifier, state } = await authorizationUrl();
    await page.goto(url);
    await page.fill('input[name=email]', user.email);
    await page.fill('input[name=password]', user.password);
    await page.click('button[type=submit]');
    const secret = (await page.textContent('[data-testid="totp-secret"]'))!.trim();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    // The QR code is an inline image: nothing is fetched from elsewhere.
    expect(await page.getAttribute('img', 'src')).toMatch(/^data:image\/png;base64,/);
    await page.fill('input[name=code]', oathtoolCode(secret));
    await page.click('button[type=submit]:not([name=cancel])');
    const items = page.locator('[data-testid="recovery-codes"] > *');
    expect(await items.count()).toBe(10);
    recoveryCodes = (await items.allTextContents()).map((t) => t.trim());
    await page.click('button[type=submit][name=continue]');
    await page.click('button[type=submit][name=decision][value=allow]');
    await page.waitForURL(`${rpOrigin}/cb**`);
    const tokens = await redeem(page.url(), verifier, state);
    expect(jose.decodeJwt(tokens.id_token!)).toMatchObject({ acr: 'urn:gatehouse:loa:2' });
    await context.close();
  });

  it('lets the user who lost the phone in with a recovery code, and says how many remain', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const { url, verifier, state } = await authorizationUrl();
    await page.goto(url);
    await page.fill('input[name=email]', user.email);
    await page.fill('input[name=password]', user.password);
    await page.click('button[type=submit]');
    await page.fill('input[name=code]', recoveryCodes[0]);
    await page.click('button[type=submit]:not([name=cancel])');
    expect(await page.textContent('main')).toMatch(/9\s+codes remain/);
    await page.click('button[type=submit][name=continue]');
    await page.click('button[type=submit][name=decision][value=allow]');
    await page.waitForURL(`${rpOrigin}/cb**`);
    expect((await redeem(page.url(), verifier, state)).access_token).toBeTruthy();
    await context.close();
  });

  it('will not show the login page inside another site\'s frame', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const { url } = await authorizationUrl();
    await page.goto(`${rpOrigin}/frame?src=${encodeURIComponent(url)}`);
    await page.waitForTimeout(1500);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    const framedFields = frame ? await frame.locator('input[name=password]').count().catch(() => 0) : 0;
    expect(framedFields).toBe(0);
    // The same page opened on its own has the field: the frame was refused, not the page.
    await page.goto(url);
    expect(await page.locator('input[name=password]').count()).toBe(1);
    expect(tenantSlug).toBeTruthy();
    await context.close();
  });
});
