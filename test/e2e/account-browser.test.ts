import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Tenant } from '../../src/domain/tenants/tenants.types.js';
import { startTestGatehouse, type TestGatehouse } from '../support/gatehouse.js';
import { RelyingParty } from '../support/relying-party.js';
import { oathtoolCode } from '../support/totp.js';

// Headless Chromium on a phone-sized screen, on the account pages through their stable field names.
const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error('chromium is missing: .ci/run installs it (apt-get install chromium)');
const suite = available ? describe : describe.skip;

suite('the account page in a real browser on a phone', () => {
  let gh: TestGatehouse;
  let browser: Browser;
  let tenant: Tenant;
  let app: { clientId: string; clientSecret?: string; redirectUri: string };
  const user = { email: 'account-browser@example.com', password: 'correct horse battery staple' };

  beforeAll(async () => {
    gh = await startTestGatehouse();
    tenant = await gh.tenant();
    await gh.user(tenant, { email: user.email, password: user.password });
    app = await gh.client(tenant);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await gh?.stop();
  });

  /** Nothing is wider than the phone: no sideways scrolling. */
  const fitsThePhone = async (page: Page) => expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

  it('changes the password, enrolls TOTP and ends another session, whose refresh token then dies', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const base = `${gh.url}/t/${tenant.slug}/account`;

    // Signing in goes through the tenant's own login page.
    await page.goto(base);
    await page.fill('input[name=email]', user.email);
    await page.fill('input[name=password]', user.password);
    await page.click('button[type=submit]');
    await page.waitForURL(base);
    expect(await page.textContent('main')).toContain(user.email);
    await fitsThePhone(page);

    // Password.
    await page.click('a[href$="/account/password"]');
    const next = 'a new and longer passphrase';
    await page.fill('input[name=current_password]', user.password);
    await page.fill('input[name=new_password]', next);
    await page.click('form[action$="/account/password"] button[type=submit]');
    expect(await page.textContent('[role=status]')).toContain('Your password was changed');
    await fitsThePhone(page);

    // Another device signs in to an app with the new password, and holds a refresh token.
    const phone = await RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, ...app });
    const tokens = await phone.login({ email: user.email, password: next });
    await expect(phone.refresh(tokens.refresh_token!)).resolves.toHaveProperty('access_token');

    // TOTP: the sign-in is recent, so no password is asked.
    await page.click('a[href$="/account/mfa"]');
    await page.click('button[name=enroll]');
    const secret = (await page.textContent('[data-testid="totp-secret"]'))!.trim();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(await page.getAttribute('p.qr img', 'src')).toMatch(/^data:image\/png;base64,/);
    await fitsThePhone(page);
    await page.fill('input[name=code]', oathtoolCode(secret));
    await page.click('form[action$="/mfa/totp/confirm"] button[type=submit]');
    expect(await page.locator('[data-testid="recovery-codes"] > *').count()).toBe(10);
    await page.click('button[type=submit][name=continue]');
    await page.waitForURL(`${base}/mfa`);
    expect(await page.textContent('[data-testid="mfa-status"]')).toContain('On');

    // Sessions: the other device's session ends, and its refresh token with it.
    await page.click('a[href$="/account/sessions"]');
    const other = page.locator('[data-testid="session"]', { hasText: app.clientId });
    expect(await other.count()).toBe(1);
    await fitsThePhone(page);
    await other.locator('button[name=revoke]').click();
    expect(await page.textContent('[role=status]')).toContain('The session was ended');
    expect(await page.locator('[data-testid="session"]', { hasText: app.clientId }).count()).toBe(0);
    await expect(phone.refresh(tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    // Signing out of the account page, then in again, asks for the new password and the code.
    await page.click('button[name=logout]');
    await page.click('a[href$="/account/login"]');
    await page.fill('input[name=email]', user.email);
    await page.fill('input[name=password]', next);
    await page.click('button[type=submit]');
    await page.fill('input[name=code]', oathtoolCode(secret, 30));
    await page.click('button[type=submit]:not([name=cancel])');
    await page.waitForURL(base);
    await context.close();
  });
});
