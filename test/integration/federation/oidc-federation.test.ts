import * as oidc from 'openid-client';
import { parseCidr } from '../../../src/config/cidr.js';
import { CLI_ACTOR } from '../../../src/deps.js';
import { createOidcConnection, changeOidcConnection } from '../../../src/domain/oidc-connections/oidc-connections.service.js';
import type { OidcConnectionInput } from '../../../src/domain/oidc-connections/oidc-connections.types.js';
import { createRole } from '../../../src/domain/rbac/rbac.service.js';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import { changeTenantSettings } from '../../../src/domain/tenants/tenants.service.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { findUserCredentialsByEmail } from '../../../src/domain/users/users.queries.js';
import { changeUser, setUserRoles } from '../../../src/domain/users/users.service.js';
import { findUserRoleNames } from '../../../src/domain/rbac/rbac.queries.js';
import { csrfOf } from '../../support/browser.js';
import { drive, FederationBrowser, type Answers } from '../../support/federation.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { oathtoolCode } from '../../support/totp.js';

// Two logins per test (upstream and downstream) on a loaded machine.

let gh: TestGatehouse;
/** The downstream tenant (users sign in here) and the upstream one (it proves who they are). */
let a: Tenant;
let b: Tenant;
let rpA: { config: oidc.Configuration; redirectUri: string };
let upstreamClient: { clientId: string; clientSecret?: string };
const CONNECTION = 'corp';

const connectionInput = (overrides: Partial<OidcConnectionInput> = {}): OidcConnectionInput => ({
  displayName: 'Corp Login',
  issuer: `${gh.url}/t/${b.slug}`,
  clientId: upstreamClient.clientId,
  clientSecret: upstreamClient.clientSecret!,
  tokenEndpointAuthMethod: 'client_secret_basic',
  scopes: ['openid', 'profile', 'email', 'roles'],
  emailDomains: ['corp.example'],
  claimMapping: { groups: 'roles' },
  groupRoleMapping: { engineer: ['developer'], manager: ['approver'] },
  trustEmail: false,
  upstreamMfaCounts: false,
  ...overrides,
});

async function relyingPartyOf(tenant: Tenant) {
  const app = await gh.client(tenant);
  const config = await oidc.discovery(new URL(`${gh.url}/t/${tenant.slug}`), app.clientId, app.clientSecret, oidc.ClientSecretBasic(app.clientSecret!), { execute: [oidc.allowInsecureRequests] });
  return { config, redirectUri: app.redirectUri };
}

/** Tenant A's authorization request, driven through whatever pages come, up to A's client callback. */
async function signInAtA(answers: Answers, params: Record<string, string> = {}, browser = new FederationBrowser(gh.url)) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(rpA.config, {
    redirect_uri: rpA.redirectUri, scope: 'openid profile email roles', prompt: 'consent', state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
  });
  const page = await drive(browser, await browser.go(url.href), answers);
  const redeem = async () => {
    if (!page.location?.startsWith(rpA.redirectUri)) throw new Error(`did not reach the callback: ${page.status} ${page.url} ${page.html.slice(0, 300)}`);
    return oidc.authorizationCodeGrant(rpA.config, new URL(page.location), { pkceCodeVerifier: verifier, expectedState: state });
  };
  return { page, browser, redeem };
}

async function upstreamUser(email: string, roles: string[] = []) {
  const user = await gh.user(b, { email, name: 'Alice Upstream', givenName: 'Alice', familyName: 'Upstream' });
  if (roles.length) await setUserRoles(gh.deps, b, user.id, roles, CLI_ACTOR);
  return user;
}
const upstreamAnswers = (user: { email: string; password: string }): Answers => ({ password: (slug) => (slug === b.slug ? user : undefined) });

async function auditOf(tenant: Tenant, type: string) {
  return gh.deps.db('audit_events').where({ tenant_id: tenant.id, type }).orderBy('id');
}

beforeAll(async () => {
  gh = await startTestGatehouse({ outboundAllow: ['127.0.0.0/8', '::1/128'].map((c) => parseCidr(c)!) });
  b = await gh.tenant();
  a = await gh.tenant();
  for (const name of ['engineer', 'manager']) await createRole(gh.deps, b, { name, permissions: [] }, CLI_ACTOR);
  for (const name of ['developer', 'approver', 'auditor']) await createRole(gh.deps, a, { name, permissions: [] }, CLI_ACTOR);
  upstreamClient = await gh.client(b, { client_name: 'Tenant A federation', redirect_uris: [`${gh.url}/t/${a.slug}/oidc/${CONNECTION}/callback`] });
  await createOidcConnection(gh.deps, a, CONNECTION, connectionInput(), CLI_ACTOR);
  rpA = await relyingPartyOf(a);
}, 120_000);
afterAll(() => gh.stop());

describe('OIDC federation: tenant A signs in through tenant B', () => {
  it('creates the user just in time on the first login, with the mapped profile and roles', async () => {
    const alice = await upstreamUser('alice@corp.example', ['engineer']);
    const { redeem } = await signInAtA(upstreamAnswers(alice), { idp_hint: CONNECTION });
    const tokens = await redeem();
    const claims = tokens.claims()!;
    const local = (await findUserCredentialsByEmail(gh.deps.db, a.id, 'alice@corp.example'))!.user;
    expect(claims.sub).toBe(local.id);
    expect(claims.email).toBe('alice@corp.example');
    expect(claims.name).toBe('Alice Upstream');
    expect(claims.amr).toEqual(['fed']);
    expect(claims.roles).toEqual(['developer']);
    expect(local.emailVerified).toBe(true);
    const links = await gh.deps.db('federated_identities').where({ tenant_id: a.id, user_id: local.id });
    expect(links).toHaveLength(1);
    expect(links[0]).toMatchObject({ connection_kind: 'oidc', connection_name: CONNECTION, subject: alice.id });
    const events = await auditOf(a, 'federation.login.succeeded');
    expect(events.at(-1)).toMatchObject({ subject: `user:${local.id}`, outcome: 'success', details: expect.objectContaining({ connection: `oidc/${CONNECTION}`, created: true }) });
  }, 120_000);

  it('updates the profile and re-evaluates mapped roles at the next login, keeping roles assigned by hand', async () => {
    const bob = await upstreamUser('bob@corp.example', ['engineer']);
    await (await signInAtA(upstreamAnswers(bob), { idp_hint: CONNECTION })).redeem();
    const local = (await findUserCredentialsByEmail(gh.deps.db, a.id, 'bob@corp.example'))!.user;
    // An admin of A gives Bob a role by hand; B moves him from engineering to management and renames him.
    await setUserRoles(gh.deps, a, local.id, ['developer', 'auditor'], CLI_ACTOR);
    await setUserRoles(gh.deps, b, bob.id, ['manager'], CLI_ACTOR);
    await changeUser(gh.deps, b, bob.id, { name: 'Robert Upstream', givenName: 'Robert' }, CLI_ACTOR);
    const tokens = await (await signInAtA(upstreamAnswers(bob), { idp_hint: CONNECTION })).redeem();
    expect(tokens.claims()).toMatchObject({ sub: local.id, name: 'Robert Upstream', given_name: 'Robert' });
    expect(await findUserRoleNames(gh.deps.db, a.id, local.id)).toEqual(['approver', 'auditor']);
    // A role both the mapping and an admin granted before the mapping did stays when the mapping stops.
    await setUserRoles(gh.deps, b, bob.id, [], CLI_ACTOR);
    await (await signInAtA(upstreamAnswers(bob), { idp_hint: CONNECTION })).redeem();
    expect(await findUserRoleNames(gh.deps.db, a.id, local.id)).toEqual(['auditor']);
  }, 120_000);

  it('refuses an upstream account whose email belongs to a local account when trust_email is false', async () => {
    const local = await gh.user(a, { email: 'carol@corp.example' });
    const carol = await upstreamUser('carol@corp.example');
    const { page } = await signInAtA(upstreamAnswers(carol), { idp_hint: CONNECTION });
    expect(page.status).toBe(403);
    expect(page.html).toContain('Sign-in failed');
    expect(page.html).not.toContain('carol@corp.example');
    expect(await gh.deps.db('federated_identities').where({ tenant_id: a.id, user_id: local.id })).toHaveLength(0);
    expect((await gh.deps.db('users').where({ tenant_id: a.id, email_normalized: 'carol@corp.example' }))).toHaveLength(1);
    expect((await auditOf(a, 'federation.login.failed')).at(-1)).toMatchObject({ outcome: 'failure', details: expect.objectContaining({ reason: 'email_in_use' }) });
  }, 120_000);

  it('links a local account under trust_email only when the upstream says email_verified', async () => {
    await changeOidcConnection(gh.deps, a, CONNECTION, { trustEmail: true }, CLI_ACTOR);
    try {
      const localDan = await gh.user(a, { email: 'dan@corp.example' });
      const dan = await upstreamUser('dan@corp.example');
      await changeUser(gh.deps, b, dan.id, { emailVerified: false }, CLI_ACTOR);
      const refused = await signInAtA(upstreamAnswers(dan), { idp_hint: CONNECTION });
      expect(refused.page.status).toBe(403);
      expect((await auditOf(a, 'federation.login.failed')).at(-1)).toMatchObject({ details: expect.objectContaining({ reason: 'email_not_verified' }) });
      await changeUser(gh.deps, b, dan.id, { emailVerified: true }, CLI_ACTOR);
      const tokens = await (await signInAtA(upstreamAnswers(dan), { idp_hint: CONNECTION })).redeem();
      expect(tokens.claims()!.sub).toBe(localDan.id);
      expect((await auditOf(a, 'federation.login.succeeded')).at(-1)).toMatchObject({ details: expect.objectContaining({ linked: true }) });
    } finally {
      await changeOidcConnection(gh.deps, a, CONNECTION, { trustEmail: false }, CLI_ACTOR);
    }
  }, 120_000);

  it('sends an email of a federated domain to its provider (home-realm discovery) and keeps password login for others', async () => {
    const erin = await upstreamUser('erin@corp.example');
    const localUser = await gh.user(a);
    const browser = new FederationBrowser(gh.url);
    const { page: loginPage } = await signInAtA({}, {}, browser);
    expect(loginPage.html).toContain('Sign in with Corp Login');
    expect(loginPage.html).toContain(`/t/${a.slug}/oidc/${CONNECTION}/start?interaction=`);
    // Only the email: the password of a federated user is never checked here.
    const upstreamLogin = await browser.go(`${loginPage.url}/login`, { csrf: csrfOf(loginPage.html), email: erin.email, password: '' });
    expect(upstreamLogin.url).toContain(`/t/${b.slug}/interaction/`);
    expect(upstreamLogin.html).toContain(`value="${erin.email}"`); // login_hint carried upstream
    const done = await drive(browser, upstreamLogin, upstreamAnswers(erin));
    expect(done.location?.startsWith(rpA.redirectUri)).toBe(true);
    // A local user of another domain signs in with a password as before.
    const local = await signInAtA({ password: (slug) => (slug === a.slug ? localUser : undefined) });
    expect((await local.redeem()).claims()!.amr).toEqual(['pwd']);
  }, 120_000);

  it('follows a change of the connection on the next login page (the node keeps the list until a connection changes)', async () => {
    const before = await signInAtA({});
    expect(before.page.html).toContain('Sign in with Corp Login');
    await changeOidcConnection(gh.deps, a, CONNECTION, { displayName: 'Corp Directory', emailDomains: ['corp.example', 'corp-two.example'] }, CLI_ACTOR);
    try {
      const browser = new FederationBrowser(gh.url);
      const { page } = await signInAtA({}, {}, browser);
      expect(page.html).toContain('Sign in with Corp Directory');
      expect(page.html).not.toContain('Corp Login');
      const sent = await browser.go(`${page.url}/login`, { csrf: csrfOf(page.html), email: 'someone@corp-two.example', password: '' });
      expect(sent.url).toContain(`/t/${b.slug}/interaction/`); // the new domain is discovered at once
    } finally {
      await changeOidcConnection(gh.deps, a, CONNECTION, { displayName: 'Corp Login', emailDomains: ['corp.example'] }, CLI_ACTOR);
    }
  }, 120_000);

  it('asks a federated user with a second factor for it when the upstream MFA does not count', async () => {
    const frank = await upstreamUser('frank@corp.example');
    const first = await signInAtA(upstreamAnswers(frank), { idp_hint: CONNECTION });
    const localId = (await first.redeem()).claims()!.sub;
    // Frank enrolls TOTP at A (mfa_required tenant policy makes the next login enroll).
    await changeTenantSettings(gh.deps, a, { settings: { mfa_required: true } }, CLI_ACTOR);
    try {
      const fresh = (await findTenantBySlug(gh.deps.db, a.slug))!;
      expect(fresh.settings.mfa_required).toBe(true);
      const enrolling = await signInAtA(upstreamAnswers(frank), { idp_hint: CONNECTION });
      expect(enrolling.page.html).toContain('data-testid="totp-secret"');
      const seed = /data-testid="totp-secret">([A-Z2-7]+)</.exec(enrolling.page.html)![1];
      const base = enrolling.page.url.split('?')[0].replace(/\/federated$/, '');
      const codes = await enrolling.browser.go(`${base}/enroll`, { csrf: csrfOf(enrolling.page.html), code: oathtoolCode(seed) });
      const after = await enrolling.browser.go(`${base}/continue`, { csrf: csrfOf(codes.html), continue: '1' });
      const consented = await drive(enrolling.browser, after, {});
      expect(consented.location?.startsWith(rpA.redirectUri)).toBe(true);
      // Next time the code is asked after the upstream login.
      const second = await signInAtA({ ...upstreamAnswers(frank), code: () => oathtoolCode(seed, 30) }, { idp_hint: CONNECTION });
      const claims = (await second.redeem()).claims()!;
      expect(claims.sub).toBe(localId);
      expect(claims.amr).toEqual(expect.arrayContaining(['fed', 'mfa']));
    } finally {
      await changeTenantSettings(gh.deps, a, { settings: { mfa_required: false } }, CLI_ACTOR);
    }
  }, 120_000);
});

describe('fresh login', () => {
  it('asks the upstream for a fresh login when the application sends prompt=login', async () => {
    const kate = await upstreamUser('kate@corp.example');
    let upstreamPasswords = 0;
    const answers: Answers = { password: (slug) => (slug === b.slug ? (upstreamPasswords++, kate) : undefined) };
    const browser = new FederationBrowser(gh.url);
    await (await signInAtA(answers, { idp_hint: CONNECTION }, browser)).redeem();
    // Tenant A's own session answers while nothing asks otherwise...
    await (await signInAtA(answers, { idp_hint: CONNECTION, prompt: 'consent' }, browser)).redeem();
    expect(upstreamPasswords).toBe(1);
    // ...and a fresh login at A is a fresh login upstream too, although B still has a session.
    await (await signInAtA(answers, { idp_hint: CONNECTION, prompt: 'login consent' }, browser)).redeem();
    expect(upstreamPasswords).toBe(2);
  }, 120_000);
});

describe('isolation and single use', () => {
  it("refuses tenant A's connection name under tenant B's issuer", async () => {
    const browser = new FederationBrowser(gh.url);
    const rpB = await relyingPartyOf(b);
    const url = oidc.buildAuthorizationUrl(rpB.config, { redirect_uri: rpB.redirectUri, scope: 'openid', idp_hint: CONNECTION, code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const page = await browser.go(url.href);
    // B has no such connection: the hint is ignored and B's own login page shows.
    expect(page.html).toContain('name="password"');
    const uid = /interaction\/([^/?"]+)/.exec(page.url)![1];
    const start = await browser.go(`${gh.url}/t/${b.slug}/oidc/${CONNECTION}/start?interaction=${uid}`);
    expect(start.status).toBe(404);
    expect((await auditOf(b, 'federation.login.failed')).at(-1)).toMatchObject({ details: expect.objectContaining({ reason: 'unknown_connection' }) });
  }, 120_000);

  it("refuses a state replayed at another tenant's callback, and the same callback twice", async () => {
    const gina = await upstreamUser('gina@corp.example');
    const browser = new FederationBrowser(gh.url);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rpA.config, { redirect_uri: rpA.redirectUri, scope: 'openid', idp_hint: CONNECTION, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    // Stop at A's callback: the upstream sends the browser there with code and state.
    let page = await browser.go(url.href);
    page = await browser.go(`${page.url}/login`, { csrf: csrfOf(page.html), email: gina.email, password: gina.password });
    let callback = '';
    for (let i = 0; i < 5 && !callback; i++) {
      if (page.html.includes('name="decision"')) {
        const res = await browser.request(`${page.url.split('?')[0]}/confirm`, { csrf: csrfOf(page.html), decision: 'allow' });
        let loc = new URL(res.headers.get('location')!, page.url).toString();
        for (;;) {
          if (loc.includes(`/oidc/${CONNECTION}/callback`)) { callback = loc; break; }
          const r = await browser.request(loc);
          loc = new URL(r.headers.get('location')!, loc).toString();
        }
      } else throw new Error(`unexpected page ${page.url}`);
    }
    const elsewhere = callback.replace(`/t/${a.slug}/`, `/t/${b.slug}/`);
    const atB = await browser.go(elsewhere);
    expect(atB.status).toBe(400);
    expect((await auditOf(b, 'federation.login.failed')).at(-1)).toMatchObject({ details: expect.objectContaining({ reason: 'bad_state' }) });
    const first = await browser.go(callback);
    expect(first.html).toContain('name="decision"'); // A's consent: the login went through
    const again = await browser.go(callback);
    expect(again.status).toBe(400);
  }, 120_000);

  it('refuses a federated result under another interaction (login CSRF) and a second use', async () => {
    const hank = await upstreamUser('hank@corp.example');
    const attacker = new FederationBrowser(gh.url);
    // The attacker completes a login upstream but stops at the hop to A's interaction page.
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rpA.config, { redirect_uri: rpA.redirectUri, scope: 'openid', idp_hint: CONNECTION, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    let loc = url.href;
    let html = '';
    let hop = '';
    for (let i = 0; i < 20 && !hop; i++) {
      const res = await attacker.request(loc, html.includes('name="password"') ? { csrf: csrfOf(html), email: hank.email, password: hank.password } : html.includes('name="decision"') ? { csrf: csrfOf(html), decision: 'allow' } : undefined);
      const next = res.headers.get('location');
      if (next) {
        const abs = new URL(next, loc).toString();
        if (abs.includes('/federated?result=')) hop = abs;
        loc = abs;
        html = '';
      } else {
        html = await res.text();
        loc = `${loc.split('?')[0]}/${html.includes('name="decision"') ? 'confirm' : 'login'}`;
      }
    }
    expect(hop).toContain(`/t/${a.slug}/interaction/`);
    // The victim's browser has an interaction of its own; the attacker's handle is refused there.
    const victim = new FederationBrowser(gh.url);
    const victimLogin = (await signInAtA({}, {}, victim)).page;
    const victimUid = /interaction\/([^/?"]+)/.exec(victimLogin.url)![1];
    const handle = new URL(hop).searchParams.get('result')!;
    const forged = await victim.go(`${gh.url}/t/${a.slug}/interaction/${victimUid}/federated?result=${handle}`);
    expect(forged.status).toBe(400);
    expect((await auditOf(a, 'federation.login.failed')).at(-1)).toMatchObject({ details: expect.objectContaining({ reason: 'result_of_another_interaction' }) });
    // And the handle was taken: the attacker's own browser cannot use it any more either.
    const replay = await attacker.go(hop);
    expect(replay.status).toBe(400);
  }, 120_000);
});

describe('secrets', () => {
  it("writes the upstream client secret to no log line, audit event or plain column", async () => {
    const secret = upstreamClient.clientSecret!;
    for (const line of logLines) expect(line).not.toContain(secret);
    const events = await gh.deps.db('audit_events').whereIn('tenant_id', [a.id, b.id]);
    expect(JSON.stringify(events)).not.toContain(secret);
    const row = await gh.deps.db('oidc_connections').where({ tenant_id: a.id, name: CONNECTION }).first();
    expect(row.client_secret).not.toContain(secret);
  });
});
