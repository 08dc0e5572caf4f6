import * as jose from 'jose';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { systemAdminApi } from '../../support/admin.js';
import { csrfOf } from '../../support/browser.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';
import { linkIn, MailCatcher } from '../../support/smtp.js';

// Sign-up → mail → link → the same authorization request goes on, with a real SMTP server.
let gh: TestGatehouse;
let smtp: MailCatcher;
let tenant: Tenant;

beforeAll(async () => {
  smtp = await MailCatcher.start();
  gh = await startTestGatehouse({ smtpUrl: smtp.url });
  const api = await systemAdminApi(gh);
  const created = await gh.tenant();
  expect((await api('PATCH', `/tenants/${created.slug}`, { registration: { enabled: true }, require_verified_email: true })).status).toBe(200);
  tenant = (await findTenantBySlug(gh.deps.db, created.slug))!;
}, 120_000);
afterAll(async () => {
  await gh.stop();
  await smtp.stop();
});

it('signs a new user up, mails the link, and continues into the authorization request once it is opened', async () => {
  const app = await gh.client(tenant);
  const issuer = `${gh.url}/t/${tenant.slug}`;
  const rp = await RelyingParty.discover({ issuer, ...app });
  const start = await rp.startLogin({ scope: 'openid email', prompt: 'create' });
  const signed = await rp.browser.post(`${start.at}/signup`, { csrf: csrfOf(start.html), email: 'newcomer@example.com', password: 'a long and unusual passphrase', name: 'Newcomer' });
  expect(signed.status).toBe(303);
  const waiting = await rp.browser.follow(new URL(signed.headers.get('location')!, start.at).toString(), gh.url);
  const waitingHtml = await waiting.res.text();
  expect(waitingHtml).toContain('Verify your email');

  const mail = await smtp.next('newcomer@example.com');
  const link = linkIn(mail, `${issuer}/email/verify?token=`);
  // The link opens in another tab: a page with a button, then the address is verified.
  const page = await rp.browser.get(link);
  const html = await page.text();
  const token = /name="token" value="([^"]+)"/.exec(html)![1];
  expect((await rp.browser.post(`${issuer}/email/verify`, { csrf: csrfOf(html), token })).status).toBe(200);

  // Back on the waiting page: Continue goes on to consent and the callback.
  const resumed = await rp.browser.post(`${waiting.url}/verify-email`, { csrf: csrfOf(waitingHtml), continue: '1' });
  expect(resumed.status).toBe(303);
  const consent = await rp.browser.follow(new URL(resumed.headers.get('location')!, waiting.url).toString(), gh.url);
  const consentHtml = await consent.res.text();
  const allowed = await rp.browser.post(`${consent.url}/confirm`, { csrf: csrfOf(consentHtml), decision: 'allow' });
  const done = await rp.browser.follow(new URL(allowed.headers.get('location')!, consent.url).toString(), gh.url);
  const tokens = await rp.redeem(new URL(done.url), start.verifier, start.state);
  expect(jose.decodeJwt(tokens.id_token!)).toMatchObject({ email: 'newcomer@example.com', email_verified: true });
  expect(logLines.join('\n')).not.toContain(token);
});
