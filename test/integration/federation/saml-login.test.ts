import * as oidc from 'openid-client';
import { CLI_ACTOR } from '../../../src/deps.js';
import { createRole } from '../../../src/domain/rbac/rbac.service.js';
import { findUserRoleNames } from '../../../src/domain/rbac/rbac.queries.js';
import { createSamlConnection } from '../../../src/domain/saml-connections/saml-connections.service.js';
import type { SamlConnectionInput } from '../../../src/domain/saml-connections/saml-connections.types.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { findUserCredentialsByEmail } from '../../../src/domain/users/users.queries.js';
import { systemAdminApi } from '../../support/admin.js';
import { csrfOf } from '../../support/browser.js';
import { drive, FederationBrowser, type Page } from '../../support/federation.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { makeKeys, postFormOf, startTestIdp, type RunningIdp } from '../../support/saml/test-idp.js';

// SAML logins against an IdP that shares no code with samlify (Python + xmlsec1, configured only
// from Gatehouse's published SP metadata), with openid-client as the application.

let gh: TestGatehouse;
let a: Tenant;
let idp: RunningIdp;
let signingIdp: RunningIdp;
let keys: ReturnType<typeof makeKeys>;
let rp: { config: oidc.Configuration; redirectUri: string };

const connection = async (name: string, overrides: Partial<SamlConnectionInput> = {}, from = idp) =>
  createSamlConnection(gh.deps, a, name, {
    displayName: `Corp ${name}`, idpMetadataXml: await from.metadata(), emailDomains: [],
    attributeMapping: { email: 'email', name: 'displayName', groups: 'groups' },
    groupRoleMapping: { engineering: ['developer'], managers: ['approver'] },
    allowIdpInitiated: false, upstreamMfaCounts: false, ...overrides,
  }, CLI_ACTOR);

const spMetadataUrl = (name: string) => `${gh.url}/t/${a.slug}/saml/${name}/metadata`;
const auditOf = (type: string) => gh.deps.db('audit_events').where({ tenant_id: a.id, type }).orderBy('id');

/** The user at the IdP: its sign-in form, then its auto-post form back to Gatehouse's ACS. */
async function signInAtIdp(ssoUrl: string, user: { email: string; name: string; groups: string }) {
  const res = await fetch(ssoUrl);
  const html = await res.text();
  expect([res.status, html.slice(0, 200)]).toEqual([200, expect.any(String)]);
  const hidden = (n: string) => new RegExp(`name="${n}" value="([^"]*)"`).exec(html)![1].replace(/&amp;/g, '&');
  const posted = await fetch(new URL('/login', ssoUrl), {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ sp: hidden('sp'), request_id: hidden('request_id'), relay_state: hidden('relay_state'), ...user }),
  });
  return postFormOf(await posted.text());
}

/** The application's authorization request, through Gatehouse and the IdP, to the code. */
async function login(params: Record<string, string>, user: { email: string; name: string; groups: string }, browser = new FederationBrowser(gh.url)) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(rp.config, {
    redirect_uri: rp.redirectUri, scope: 'openid profile email roles', prompt: 'consent', state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
  });
  let page: Page = await browser.go(url.href);
  if (page.status === 200 && params.login_hint) {
    // Home-realm discovery: only the email is typed on Gatehouse's login page.
    page = await browser.go(`${page.url}/login`, { csrf: csrfOf(page.html), email: params.login_hint, password: '' });
  }
  const toIdp = page.location!;
  expect(toIdp).toMatch(/\/sso\?SAMLRequest=/);
  const form = await signInAtIdp(toIdp, user);
  page = await drive(browser, await browser.go(form.action, { SAMLResponse: form.SAMLResponse }), {});
  if (!page.location?.startsWith(rp.redirectUri)) throw new Error(`no code: ${page.status} ${page.url} ${page.html.slice(0, 300)}`);
  const tokens = await oidc.authorizationCodeGrant(rp.config, new URL(page.location), { pkceCodeVerifier: verifier, expectedState: state });
  return { tokens, toIdp, form };
}

beforeAll(async () => {
  gh = await startTestGatehouse();
  keys = makeKeys('idp');
  idp = await startTestIdp(keys.pairs.idp);
  signingIdp = await startTestIdp(keys.pairs.idp, { wantSignedRequests: true });
  a = await gh.tenant();
  for (const name of ['developer', 'approver']) await createRole(gh.deps, a, { name, permissions: [] }, CLI_ACTOR);
  await connection('corp', { emailDomains: ['corp.example'] });
  const app = await gh.client(a);
  rp = { config: await oidc.discovery(new URL(`${gh.url}/t/${a.slug}`), app.clientId, app.clientSecret, oidc.ClientSecretBasic(app.clientSecret!), { execute: [oidc.allowInsecureRequests] }), redirectUri: app.redirectUri };
}, 180_000);
afterAll(async () => {
  idp?.stop();
  signingIdp?.stop();
  keys?.cleanup();
  await gh?.stop();
});

describe('SAML: the SP a connection publishes', () => {
  it('publishes SP metadata whose entity ID is its own URL, with the ACS over HTTP-POST', async () => {
    const res = await fetch(spMetadataUrl('corp'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/samlmetadata\+xml/);
    const xml = await res.text();
    expect(xml).toContain(`entityID="${spMetadataUrl('corp')}"`);
    expect(xml).toMatch(new RegExp(`AssertionConsumerService[^>]*Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"[^>]*Location="${gh.url}/t/${a.slug}/saml/corp/acs"`));
    expect(xml).toContain('urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
    expect(xml).toContain('WantAssertionsSigned="true"');
    expect(xml).not.toContain('KeyDescriptor'); // this IdP does not ask for signed AuthnRequests
    expect((await fetch(spMetadataUrl('nope'))).status).toBe(404);
  });
});

describe('SAML: SP-initiated login', () => {
  it('signs a new user in through the IdP (idp_hint), creating them just in time with the mapped profile and roles', async () => {
    const { tokens, toIdp } = await login({ idp_hint: 'corp' }, { email: 'alice@corp.example', name: 'Alice Corp', groups: 'engineering' });
    expect(new URL(toIdp).searchParams.has('Signature')).toBe(false);
    const claims = tokens.claims()!;
    const local = (await findUserCredentialsByEmail(gh.deps.db, a.id, 'alice@corp.example'))!.user;
    expect(claims).toMatchObject({ sub: local.id, email: 'alice@corp.example', name: 'Alice Corp', amr: ['fed'], roles: ['developer'] });
    expect(local.emailVerified).toBe(true); // corp.example is the connection's own domain
    const links = await gh.deps.db('federated_identities').where({ tenant_id: a.id, user_id: local.id });
    expect(links).toEqual([expect.objectContaining({ connection_kind: 'saml', connection_name: 'corp', subject: 'alice@corp.example' })]);
    const [succeeded] = (await auditOf('saml.login.succeeded')).slice(-1);
    expect(succeeded).toMatchObject({ outcome: 'success', subject: 'saml-connection:corp', details: { connection: 'corp', idp_initiated: false, upstream_mfa: false } });
  }, 120_000);

  it('updates the profile and re-evaluates group roles at the next login (home-realm discovery)', async () => {
    await login({ idp_hint: 'corp' }, { email: 'bob@corp.example', name: 'Bob Corp', groups: 'engineering' });
    const { tokens } = await login({ login_hint: 'bob@corp.example' }, { email: 'bob@corp.example', name: 'Robert Corp', groups: 'managers' });
    const local = (await findUserCredentialsByEmail(gh.deps.db, a.id, 'bob@corp.example'))!.user;
    expect(tokens.claims()).toMatchObject({ sub: local.id, name: 'Robert Corp', roles: ['approver'] });
    expect(await findUserRoleNames(gh.deps.db, a.id, local.id)).toEqual(['approver']);
    expect(await gh.deps.db('users').where({ tenant_id: a.id, email_normalized: 'bob@corp.example' })).toHaveLength(1);
  }, 120_000);

  it('signs the AuthnRequest with the connection key when the IdP asks, and never answers that key', async () => {
    await connection('signed', {}, signingIdp);
    const metadata = await (await fetch(spMetadataUrl('signed'))).text();
    expect(metadata).toContain('AuthnRequestsSigned="true"');
    expect(metadata).toMatch(/<(\w+:)?KeyDescriptor use="signing">[\s\S]*X509Certificate>[A-Za-z0-9+/=\s]{500,}</);
    // The IdP verifies the redirect signature with openssl against that certificate, or refuses.
    const { tokens, toIdp } = await login({ idp_hint: 'signed' }, { email: 'carol@corp.example', name: 'Carol', groups: '' });
    expect(new URL(toIdp).searchParams.get('SigAlg')).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    expect(tokens.claims()!.email).toBe('carol@corp.example');
    // The key is sealed at rest and appears in no admin answer.
    const row = await gh.deps.db('saml_connections').where({ tenant_id: a.id, name: 'signed' }).first();
    expect(row.sp_signing_key_sealed).toMatch(/^v1\./);
    const api = await systemAdminApi(gh);
    const one = await api('GET', `/tenants/${a.slug}/saml-connections/signed`);
    const list = await api('GET', `/tenants/${a.slug}/saml-connections`);
    for (const body of [JSON.stringify(one.body), JSON.stringify(list.body)]) {
      expect(body).not.toContain('PRIVATE KEY');
      expect(body).not.toContain(row.sp_signing_key_sealed);
      expect(body).not.toContain('sp_signing_key');
    }
    const created = await auditOf('saml_connection.sp_key_created');
    expect(created).toEqual([expect.objectContaining({ subject: 'saml-connection:signed', details: { fingerprint_sha256: expect.stringMatching(/^[0-9A-F:]{95}$/) } })]);
  }, 120_000);
});

describe('SAML: IdP-initiated login', () => {
  it('lands the user signed in on the account page where the connection allows it', async () => {
    await connection('portal', { allowIdpInitiated: true });
    const browser = new FederationBrowser(gh.url);
    const form = postFormOf(await (await fetch(`${idp.base}/idp-initiated?sp_metadata=${encodeURIComponent(spMetadataUrl('portal'))}&email=dora@partner.example&name=Dora`)).text());
    const page = await browser.go(form.action, { SAMLResponse: form.SAMLResponse });
    expect(page.status).toBe(200);
    expect(page.url).toBe(`${gh.url}/t/${a.slug}/account`);
    expect(page.html).toContain('dora@partner.example');
    const local = (await findUserCredentialsByEmail(gh.deps.db, a.id, 'dora@partner.example'))!.user;
    expect(local.emailVerified).toBe(false); // not a domain of this connection
    const [succeeded] = (await auditOf('saml.login.succeeded')).slice(-1);
    expect(succeeded.details).toMatchObject({ connection: 'portal', idp_initiated: true });
  }, 120_000);

  it('refuses an unsolicited response where the connection does not allow it', async () => {
    const before = await gh.deps.db('users').where({ tenant_id: a.id }).count<{ count: string }[]>();
    const form = postFormOf(await (await fetch(`${idp.base}/idp-initiated?sp_metadata=${encodeURIComponent(spMetadataUrl('corp'))}&email=eve@corp.example`)).text());
    const page = await new FederationBrowser(gh.url).go(form.action, { SAMLResponse: form.SAMLResponse });
    expect(page.status).toBe(403);
    expect(page.html).toContain('Sign-in failed');
    const [failed] = (await auditOf('saml.login.failed')).slice(-1);
    expect(failed).toMatchObject({ outcome: 'failure', details: { connection: 'corp', reason: 'unsolicited' } });
    expect(await gh.deps.db('users').where({ tenant_id: a.id }).count<{ count: string }[]>()).toEqual(before);
  }, 120_000);
});
