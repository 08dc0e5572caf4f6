import { CLI_ACTOR } from '../../../src/deps.js';
import { changeTenantSettings } from '../../../src/domain/tenants/tenants.service.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { Lockout } from '../../../src/security/lockout.js';
import { Browser, csrfOf } from '../../support/browser.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';
import { linkIn, MailCatcher } from '../../support/smtp.js';

let smtp: MailCatcher;
let gh: TestGatehouse;
let tenant: Tenant;
let app: { clientId: string; clientSecret?: string; redirectUri: string };
/** Every token and password this file handled: none may appear in a log line. */
const secrets: string[] = [];

beforeAll(async () => {
  smtp = await MailCatcher.start();
  gh = await startTestGatehouse({ smtpUrl: smtp.url });
  tenant = await gh.tenant();
  app = await gh.client(tenant);
});
afterAll(async () => {
  await gh.stop();
  await smtp.stop();
});

const issuer = (t: Tenant = tenant) => `${gh.url}/t/${t.slug}`;
const rp = () => RelyingParty.discover({ issuer: issuer(), ...app });

/** Fills in the forgot-password form as a browser would; answers status and page. */
async function forgot(email: string, t: Tenant = tenant, browser = new Browser()) {
  const page = await browser.get(`${issuer(t)}/password/forgot`);
  expect(page.status).toBe(200);
  const res = await browser.post(`${issuer(t)}/password/forgot`, { csrf: csrfOf(await page.text()), email });
  return { status: res.status, body: await res.text() };
}

/** The link of the next reset mail to `email`. */
async function resetLinkFor(email: string, t: Tenant = tenant) {
  const mail = await smtp.next(email);
  const link = linkIn(mail, `${issuer(t)}/password/reset?token=`);
  secrets.push(new URL(link).searchParams.get('token')!);
  return link;
}

/** Opens the link and submits the form; answers status and page. */
async function reset(link: string, password: string, browser = new Browser()) {
  if (password.length >= 12 && new Set(password).size > 4) secrets.push(password); // not 'password' or 'xxx…'
  const page = await browser.get(link);
  const html = await page.text();
  if (page.status !== 200) return { status: page.status, body: html };
  const token = /name="token" value="([^"]+)"/.exec(html)![1];
  const res = await browser.post(`${new URL(link).origin}${new URL(link).pathname}`, { csrf: csrfOf(html), token, password });
  return { status: res.status, body: await res.text() };
}

describe('password reset', () => {
  it('mails a link that sets a new password, ends every session and refresh token, and lifts a lockout', async () => {
    const user = await gh.user(tenant);
    secrets.push(user.password);
    const before = await (await rp()).login(user);
    const lockout = new Lockout(gh.deps.kv, gh.deps.kvPrefix);
    for (let i = 0; i < tenant.settings.lockout.max_failed_attempts; i++) await lockout.recordFailure(tenant.id, user.id, tenant.settings.lockout);
    expect(await lockout.isLocked(tenant.id, user.id)).toBe(true);

    const asked = await forgot(user.email);
    expect(asked.status).toBe(200);
    expect(asked.body).toContain('Check your email');
    const mail = (await smtp.next(user.email));
    expect(mail.from).toBe('no-reply@localhost');
    expect(mail.headers.from).toBe('Gatehouse <no-reply@localhost>');
    expect(mail.subject).toBe(`Reset your password for ${tenant.name}`);
    const link = linkIn(mail, `${issuer()}/password/reset?token=`);
    expect(mail.html).toContain(link.replace(/&/g, '&amp;'));
    const token = new URL(link).searchParams.get('token')!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes
    secrets.push(token);

    const done = await reset(link, 'a brand new passphrase');
    expect(done.status).toBe(200);
    expect(done.body).toContain('Your password was changed');

    await expect((await rp()).refresh(before.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await lockout.isLocked(tenant.id, user.id)).toBe(false);
    await expect((await rp()).login(user)).rejects.toMatchObject({ status: 401 });
    await expect((await rp()).login({ email: user.email, password: 'a brand new passphrase' })).resolves.toHaveProperty('access_token');

    const types = (await gh.deps.db('audit_events').where({ tenant_id: tenant.id, subject: `user:${user.id}` }).select('type')).map((r) => r.type);
    expect(types).toEqual(expect.arrayContaining(['password.reset_requested', 'password.reset', 'session.revoked']));
    // Only the hash is stored.
    const rows = await gh.deps.db('mail_tokens').where({ tenant_id: tenant.id, user_id: user.id });
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it('applies the tenant password policy and keeps the link usable after a refusal', async () => {
    const user = await gh.user(tenant);
    await forgot(user.email);
    const link = await resetLinkFor(user.email);
    const common = await reset(link, 'password');
    expect(common.status).toBe(400);
    expect(common.body).toContain('Password is one of the most common passwords.');
    const short = await reset(link, 'abc');
    expect(short.status).toBe(400);
    expect(short.body).toContain('Password must be at least 8 characters.');
    expect((await reset(link, 'x'.repeat(1025))).body).toContain('Password must be at most 1024 characters.');
    expect((await reset(link, 'finally a good one')).status).toBe(200);
  });

  it('answers a used link with a clear page, never a 500', async () => {
    const user = await gh.user(tenant);
    await forgot(user.email);
    const link = await resetLinkFor(user.email);
    expect((await reset(link, 'first new password')).status).toBe(200);
    const again = await reset(link, 'second new password');
    expect(again.status).toBe(400);
    expect(again.body).toContain('This link has expired or was already used');
    expect(again.body).toContain(`/t/${tenant.slug}/password/forgot`);
    await expect((await rp()).login({ email: user.email, password: 'second new password' })).rejects.toMatchObject({ status: 401 });
  });

  it('lets exactly one of two racing submissions of one link win', async () => {
    const user = await gh.user(tenant);
    await forgot(user.email);
    const link = await resetLinkFor(user.email);
    const browser = new Browser();
    const html = await (await browser.get(link)).text();
    const token = /name="token" value="([^"]+)"/.exec(html)![1];
    const post = (password: string) => browser.post(`${issuer()}/password/reset`, { csrf: csrfOf(html), token, password }).then((r) => r.status);
    const statuses = await Promise.all([post('racing password one'), post('racing password two')]);
    expect(statuses.sort()).toEqual([200, 400]);
  });

  it('refuses an expired link', async () => {
    const user = await gh.user(tenant);
    await forgot(user.email);
    const link = await resetLinkFor(user.email);
    await gh.deps.db('mail_tokens').where({ tenant_id: tenant.id, user_id: user.id }).update({ expires_at: new Date(Date.now() - 1000) });
    const res = await reset(link, 'too late password');
    expect(res.status).toBe(400);
    expect(res.body).toContain('This link has expired or was already used');
  });

  it('does nothing with a link of another tenant', async () => {
    const other = await gh.tenant();
    const user = await gh.user(tenant);
    await gh.user(other, { email: user.email });
    await forgot(user.email);
    const link = await resetLinkFor(user.email);
    const elsewhere = link.replace(`/t/${tenant.slug}/`, `/t/${other.slug}/`);
    const res = await reset(elsewhere, 'cross tenant password');
    expect(res.status).toBe(400);
    expect(res.body).toContain('This link has expired or was already used');
    // Still good where it was issued.
    expect((await reset(link, 'own tenant password')).status).toBe(200);
  });

  it('refuses a form without its CSRF token', async () => {
    const res = await fetch(`${issuer()}/password/forgot`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'email=a%40example.com' });
    expect(res.status).toBe(403);
    const browser = new Browser();
    await browser.get(`${issuer()}/password/forgot`);
    expect((await browser.post(`${issuer()}/password/forgot`, { csrf: 'forged', email: 'a@example.com' })).status).toBe(403);
  });

  it('answers every page with the security headers and a working form', async () => {
    const res = await fetch(`${issuer()}/password/forgot`);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(html).toContain('name="email"');
    expect(html).not.toContain('<script');
  });

  it('links to the forgot-password page from the login page', async () => {
    const { html } = await (await rp()).startLogin();
    expect(html).toContain(`href="/t/${tenant.slug}/password/forgot"`);
  });
});

describe('forgot password never tells whether an address exists', () => {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const timed = async (email: string) => {
    const browser = new Browser();
    const page = await browser.get(`${issuer()}/password/forgot`);
    const csrf = csrfOf(await page.text());
    const started = performance.now();
    const res = await browser.post(`${issuer()}/password/forgot`, { csrf, email });
    const body = await res.text();
    return { ms: performance.now() - started, status: res.status, body };
  };

  it('gives the same status and page, about as fast, and mails only the known address', async () => {
    const user = await gh.user(tenant);
    const unknown = `nobody-${Date.now()}@example.com`;
    const known = await timed(user.email);
    const other = await timed(unknown);
    expect(other.status).toBe(known.status);
    expect(other.body).toBe(known.body);
    await smtp.next(user.email);
    await gh.deps.mailer.idle();
    expect(smtp.to(unknown)).toHaveLength(0);

    // The lookup and the mail run after the answer; a few of each, medians, with a wide margin.
    const knownMs: number[] = [];
    const unknownMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const u = await gh.user(tenant);
      knownMs.push((await timed(u.email)).ms);
      unknownMs.push((await timed(`nobody-${i}-${Date.now()}@example.com`)).ms);
    }
    await gh.deps.mailer.idle();
    expect(median(knownMs)).toBeLessThan(median(unknownMs) * 3 + 25);
  });

  it('audits a request only for a known user', async () => {
    const unknown = `ghost-${Date.now()}@example.com`;
    await forgot(unknown);
    await gh.deps.mailer.idle();
    const rows = await gh.deps.db('audit_events').where({ tenant_id: tenant.id, type: 'password.reset_requested' });
    expect(JSON.stringify(rows)).not.toContain(unknown);
  });
});

describe('mail limits and failures', () => {
  it('sends at most mail_per_address mails to one address, with the same answer', async () => {
    const limited = await gh.tenant();
    await changeTenantSettings(gh.deps, limited, { settings: { rate_limits: { ...limited.settings.rate_limits, mail_per_address: { limit: 2, window_seconds: 900 } } } }, CLI_ACTOR);
    const user = await gh.user(limited);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await forgot(user.email, limited));
    await gh.deps.mailer.idle();
    expect(new Set(answers.map((a) => `${a.status}${a.body}`)).size).toBe(1);
    expect(smtp.to(user.email)).toHaveLength(2);
    for (let i = 0; i < 2; i++) await resetLinkFor(user.email, limited);
  });

  it('answers the same when the SMTP server is down, and the user can ask again', async () => {
    const user = await gh.user(tenant);
    const ok = await forgot(`nobody-${Date.now()}@example.com`);
    await smtp.stop();
    try {
      const down = await forgot(user.email);
      expect(down).toEqual(ok);
      await gh.deps.mailer.idle();
      expect(logLines.some((l) => l.includes('"mail.failed"') && l.includes(user.email))).toBe(true);
    } finally {
      await smtp.restart();
    }
    await forgot(user.email);
    const link = await resetLinkFor(user.email);
    expect((await reset(link, 'after the outage')).status).toBe(200);
  });
});

describe('logs', () => {
  it('never carry a mailed token or a chosen password', async () => {
    await gh.deps.mailer.idle();
    expect(secrets.length).toBeGreaterThan(5);
    for (const secret of secrets) expect(logLines.filter((l) => l.includes(secret))).toEqual([]);
  });
});
