import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { sendVerificationMail } from '../../../src/mail/verification.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { Browser, csrfOf } from '../../support/browser.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';
import { linkIn, MailCatcher } from '../../support/smtp.js';

let smtp: MailCatcher;
let gh: TestGatehouse;
let tenant: Tenant;
let app: { clientId: string; clientSecret?: string; redirectUri: string };
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
const tokens: string[] = [];

beforeAll(async () => {
  smtp = await MailCatcher.start();
  gh = await startTestGatehouse({ smtpUrl: smtp.url });
  tenant = await gh.tenant();
  app = await gh.client(tenant);
  api = await systemAdminApi(gh);
});
afterAll(async () => {
  await gh.stop();
  await smtp.stop();
});

const issuer = () => `${gh.url}/t/${tenant.slug}`;
const rp = () => RelyingParty.discover({ issuer: issuer(), ...app });

async function verifyLinkFor(email: string) {
  const mail = await smtp.next(email);
  const link = linkIn(mail, `${issuer()}/email/verify?token=`);
  tokens.push(new URL(link).searchParams.get('token')!);
  return { mail, link };
}

/** Opens the link (a page with a button) and presses the button. */
async function confirm(link: string, browser = new Browser()) {
  const page = await browser.get(link);
  const html = await page.text();
  if (page.status !== 200) return { status: page.status, body: html };
  const token = /name="token" value="([^"]+)"/.exec(html)![1];
  const res = await browser.post(`${issuer()}/email/verify`, { csrf: csrfOf(html), token });
  return { status: res.status, body: await res.text() };
}

describe('email verification', () => {
  it('confirms the address through the mailed link: the next login says email_verified true', async () => {
    const user = await gh.user(tenant, { emailVerified: false });
    expect((await (await rp()).login(user)).claims()).toMatchObject({ email: user.email, email_verified: false });

    await sendVerificationMail(gh.deps, tenant, user, 'sign_up');
    const { mail, link } = await verifyLinkFor(user.email);
    expect(mail.subject).toBe(`Confirm your email address for ${tenant.name}`);
    expect(mail.html).toContain('Confirm your email address');

    // Opening the link (a mail scanner does) uses nothing up: only the button does.
    for (let i = 0; i < 2; i++) {
      const page = await new Browser().get(link);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain(user.email);
    }
    const done = await confirm(link);
    expect(done.status).toBe(200);
    expect(done.body).toContain('Email address confirmed');

    expect((await (await rp()).login(user)).claims()).toMatchObject({ email_verified: true });
    const audited = await gh.deps.db('audit_events').where({ tenant_id: tenant.id, type: 'user.email_verified', subject: `user:${user.id}` });
    expect(audited).toHaveLength(1);

    const again = await confirm(link);
    expect(again.status).toBe(400);
    expect(again.body).toContain('This link has expired or was already used');
  });

  it('mails the new address when an admin changes it, and the address is unverified until confirmed', async () => {
    const user = await gh.user(tenant);
    const fresh = `changed-${Date.now()}@example.com`;
    const res = await api('PATCH', `/tenants/${tenant.slug}/users/${user.id}`, { email: fresh });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ email: fresh, email_verified: false });
    const { mail, link } = await verifyLinkFor(fresh);
    expect(mail.subject).toBe(`Confirm your new email address for ${tenant.name}`);
    expect((await confirm(link)).status).toBe(200);
    expect((await api('GET', `/tenants/${tenant.slug}/users/${user.id}`)).body.email_verified).toBe(true);
  });

  it('sends nothing when the change sets email_verified itself or leaves the address alone', async () => {
    const user = await gh.user(tenant);
    const fresh = `trusted-${Date.now()}@example.com`;
    const res = await api('PATCH', `/tenants/${tenant.slug}/users/${user.id}`, { email: fresh, email_verified: true });
    expect(res.body).toMatchObject({ email: fresh, email_verified: true });
    const same = await api('PATCH', `/tenants/${tenant.slug}/users/${user.id}`, { email: fresh.toUpperCase(), name: 'Renamed' });
    expect(same.body.email_verified).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    await gh.deps.mailer.idle();
    expect(smtp.to(fresh)).toHaveLength(0);
  });

  it('does nothing with a link mailed to an address the account no longer has', async () => {
    const user = await gh.user(tenant, { emailVerified: false });
    await sendVerificationMail(gh.deps, tenant, user, 'resend');
    const { link } = await verifyLinkFor(user.email);
    const fresh = `moved-${Date.now()}@example.com`;
    await api('PATCH', `/tenants/${tenant.slug}/users/${user.id}`, { email: fresh });
    await verifyLinkFor(fresh);
    const res = await confirm(link);
    expect(res.status).toBe(400);
    expect((await api('GET', `/tenants/${tenant.slug}/users/${user.id}`)).body.email_verified).toBe(false);
  });

  it('refuses an expired link and a password-reset token', async () => {
    const user = await gh.user(tenant, { emailVerified: false });
    await sendVerificationMail(gh.deps, tenant, user, 'resend');
    const { link } = await verifyLinkFor(user.email);
    await gh.deps.db('mail_tokens').where({ tenant_id: tenant.id, user_id: user.id }).update({ expires_at: new Date(Date.now() - 1000) });
    expect((await confirm(link)).body).toContain('This link has expired or was already used');

    const browser = new Browser();
    const page = await browser.get(`${issuer()}/password/forgot`);
    await browser.post(`${issuer()}/password/forgot`, { csrf: csrfOf(await page.text()), email: user.email });
    const reset = linkIn(await smtp.next(user.email), `${issuer()}/password/reset?token=`);
    const token = new URL(reset).searchParams.get('token')!;
    tokens.push(token);
    const res = await confirm(`${issuer()}/email/verify?token=${token}`);
    expect(res.status).toBe(400);
    expect(res.body).toContain('This link has expired or was already used');
  });

  it('never logs a token', async () => {
    await gh.deps.mailer.idle();
    expect(tokens.length).toBeGreaterThan(3);
    for (const token of tokens) expect(logLines.filter((l) => l.includes(token))).toEqual([]);
  });
});
