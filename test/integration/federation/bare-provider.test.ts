import * as oidc from 'openid-client';
import { parseCidr } from '../../../src/config/cidr.js';
import { CLI_ACTOR } from '../../../src/deps.js';
import { clientSecretAad } from '../../../src/domain/oidc-connections/oidc-connections.types.js';
import { createRole } from '../../../src/domain/rbac/rbac.service.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { findUserCredentialsByEmail } from '../../../src/domain/users/users.queries.js';
import { changeUser } from '../../../src/domain/users/users.service.js';
import { findUserRoleNames } from '../../../src/domain/rbac/rbac.queries.js';
import { adminApi, adminToken, type ApiAnswer } from '../../support/admin.js';
import { BareProvider } from '../../support/bare-provider.js';
import { FederationBrowser, signInThrough, type TenantRp } from '../../support/federation.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { freePort } from '../../support/outages.js';

const SECRET = `bare-secret-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const LOOPBACK = ['127.0.0.0/8', '::1/128'].map((c) => parseCidr(c)!);

let gh: TestGatehouse;
let a: Tenant;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
let bare: BareProvider;
let rp: TenantRp;
let upstreamRequests = 0;

const path = (t: Tenant, name = '') => `/tenants/${t.slug}/oidc-connections${name ? `/${name}` : ''}`;
const connection = (overrides: Record<string, unknown> = {}) => ({
  name: 'bare',
  display_name: 'Bare OP',
  issuer: bare.issuer,
  client_id: 'gatehouse-a',
  client_secret: SECRET,
  token_endpoint_auth_method: 'client_secret_post',
  scopes: ['openid', 'email', 'profile', 'groups'],
  email_domains: ['bare.example'],
  claim_mapping: { email: 'mail', groups: 'grp' },
  group_role_mapping: { admins: ['ops'] },
  upstream_mfa_counts: true,
  ...overrides,
});

async function rpOf(g: TestGatehouse, tenant: Tenant): Promise<TenantRp> {
  const app = await g.client(tenant);
  const config = await oidc.discovery(new URL(`${g.url}/t/${tenant.slug}`), app.clientId, app.clientSecret, oidc.ClientSecretBasic(app.clientSecret!), { execute: [oidc.allowInsecureRequests] });
  return { config, redirectUri: app.redirectUri };
}
const browser = () => new FederationBrowser(gh.url, bare.issuer);
const lastFailure = async (tenant: Tenant) => (await gh.deps.db('audit_events').where({ tenant_id: tenant.id, type: 'federation.login.failed' }).orderBy('id', 'desc').first());

beforeAll(async () => {
  gh = await startTestGatehouse({ outboundAllow: LOOPBACK });
  a = await gh.tenant();
  await createRole(gh.deps, a, { name: 'ops', permissions: [] }, CLI_ACTOR);
  api = adminApi(gh, (await adminToken(gh, a, ['tenant-admin'])).token);
  bare = await BareProvider.start({ client_id: 'gatehouse-a', client_secret: SECRET, redirect_uris: [`${gh.url}/t/${a.slug}/oidc/bare/callback`], token_endpoint_auth_method: 'client_secret_post' });
  bare.server.on('request', () => { upstreamRequests++; });
  rp = await rpOf(gh, a);
}, 120_000);
afterAll(async () => {
  await bare?.close();
  await gh?.stop();
});

describe('admin API oidc-connections', () => {
  it('creates, reads, lists, patches and deletes a connection without ever answering its secret', async () => {
    const created = await api('POST', path(a), connection({ name: 'lifecycle', email_domains: ['life.example'] }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'lifecycle', display_name: 'Bare OP', issuer: bare.issuer, client_id: 'gatehouse-a', token_endpoint_auth_method: 'client_secret_post',
      redirect_uri: `${gh.url}/t/${a.slug}/oidc/lifecycle/callback`, trust_email: false, upstream_mfa_counts: true, group_role_mapping: { admins: ['ops'] },
    });
    const answers = [created, await api('GET', path(a, 'lifecycle')), await api('GET', path(a)), await api('PATCH', path(a, 'lifecycle'), { client_secret: `${SECRET}-2`, trust_email: true })];
    for (const answer of answers) {
      expect(answer.status).toBe(200 + (answer === created ? 1 : 0));
      expect(JSON.stringify(answer.body)).not.toContain(SECRET);
      expect(JSON.stringify(answer.body)).not.toMatch(/client_secret"/);
    }
    expect(answers[2].body.items.map((c: any) => c.name)).toContain('lifecycle');
    expect(answers[3].body.trust_email).toBe(true);
    // Sealed at rest with the master key, bound to this connection.
    const row = await gh.deps.db('oidc_connections').where({ tenant_id: a.id, name: 'lifecycle' }).first();
    expect(row.client_secret).not.toContain(SECRET);
    expect(gh.deps.secrets.decrypt(row.client_secret, clientSecretAad(a.id, 'lifecycle'))).toBe(`${SECRET}-2`);
    expect(() => gh.deps.secrets.decrypt(row.client_secret, clientSecretAad(a.id, 'other'))).toThrow();
    expect((await api('DELETE', path(a, 'lifecycle'))).status).toBe(204);
    expect((await api('GET', path(a, 'lifecycle'))).status).toBe(404);
    const events = await gh.deps.db('audit_events').where({ tenant_id: a.id, subject: 'oidc-connection:lifecycle' }).orderBy('id');
    expect(events.map((e: any) => e.type)).toEqual(['oidc_connection.created', 'oidc_connection.updated', 'oidc_connection.deleted']);
    expect(events[1].details.fields).toEqual(['client_secret', 'trust_email']);
    expect(JSON.stringify(events)).not.toContain(SECRET);
    for (const line of logLines) expect(line).not.toContain(SECRET);
  });

  it('refuses bad input with problem+json naming the field, duplicates and taken domains with 409', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [connection({ name: 'Bad Name' }), 'name'],
      [connection({ name: 'x1', issuer: 'ftp://example.com' }), 'issuer'],
      [connection({ name: 'x2', issuer: 'https://example.com/?q=1' }), 'issuer'],
      [connection({ name: 'x3', token_endpoint_auth_method: 'private_key_jwt' }), 'token_endpoint_auth_method'],
      [connection({ name: 'x4', claim_mapping: { phone: 'tel' } }), 'claim_mapping'],
      [connection({ name: 'x5', extra: true }), ''],
      [connection({ name: 'x6', client_secret: '' }), 'client_secret'],
    ];
    for (const [body, field] of cases) {
      const res = await api('POST', path(a), body);
      expect(res.status).toBe(400);
      expect(res.type).toContain('application/problem+json');
      if (field) expect(JSON.stringify(res.body.errors)).toContain(field);
    }
    const unknownRole = await api('POST', path(a), connection({ name: 'x7', email_domains: [], group_role_mapping: { g: ['nope'] } }));
    expect(unknownRole).toMatchObject({ status: 400, body: { code: 'unknown_role' } });
    expect((await api('POST', path(a), connection({ name: 'one', email_domains: ['one.example'] }))).status).toBe(201);
    expect((await api('POST', path(a), connection({ name: 'one', email_domains: [] }))).body).toMatchObject({ status: 409, code: 'oidc_connection_exists' });
    expect((await api('POST', path(a), connection({ name: 'two', email_domains: ['one.example'] }))).body).toMatchObject({ status: 409, code: 'email_domain_taken' });
    expect((await api('PATCH', path(a, 'missing'), { display_name: 'x' })).status).toBe(404);
    expect((await api('DELETE', path(a, 'one'))).status).toBe(204);
    // Nothing half-written by the refusals.
    expect(await gh.deps.db('oidc_connections').where({ tenant_id: a.id }).whereIn('name', ['x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'two'])).toHaveLength(0);
  });

  it("hides one tenant's connections from another tenant's admin", async () => {
    const other = await gh.tenant();
    const otherApi = adminApi(gh, (await adminToken(gh, other, ['tenant-admin'])).token);
    expect((await api('POST', path(a), connection({ name: 'private', email_domains: [] }))).status).toBe(201);
    expect((await otherApi('GET', path(a, 'private'))).status).toBe(403);
    expect((await otherApi('GET', path(other, 'private'))).status).toBe(404);
    expect((await otherApi('GET', path(other))).body.items).toEqual([]);
    const doc = await api('GET', '/openapi.json');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/tenants/{slug}/oidc-connections', '/tenants/{slug}/oidc-connections/{name}']));
  });
});

describe('signing in through a bare oidc-provider', () => {
  beforeAll(async () => {
    expect((await api('POST', path(a), connection())).status).toBe(201);
  });

  it('maps non-standard claims, grants mapped roles and counts the upstream MFA when the connection says so', async () => {
    bare.accounts.set('u-ivy', { mail: 'ivy@bare.example', email_verified: true, name: 'Ivy Bare', grp: ['admins'] });
    bare.next = { accountId: 'u-ivy', amr: ['pwd', 'otp'] };
    const tokens = await (await signInThrough(rp, browser(), {}, { idp_hint: 'bare' })).redeem();
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ email: 'ivy@bare.example', name: 'Ivy Bare', roles: ['ops'], acr: 'urn:gatehouse:loa:2' });
    expect(claims.amr).toEqual(['fed', 'mfa']);
    const local = (await findUserCredentialsByEmail(gh.deps.db, a.id, 'ivy@bare.example'))!.user;
    expect(await findUserRoleNames(gh.deps.db, a.id, local.id)).toEqual(['ops']);
  });

  it('refuses a login the upstream denied (error=access_denied), audited, with a generic page', async () => {
    bare.accounts.set('u-ivy', { mail: 'ivy@bare.example', email_verified: true, name: 'Ivy Bare', grp: ['admins'] });
    bare.next = { accountId: 'u-ivy', error: 'access_denied' };
    const { page } = await signInThrough(rp, browser(), {}, { idp_hint: 'bare' });
    expect(page.status).toBe(403);
    expect(page.html).toContain('Sign-in failed');
    expect(await lastFailure(a)).toMatchObject({ outcome: 'failure', details: { connection: 'oidc/bare', reason: 'upstream_error', upstream_error: 'access_denied' } });
  });

  it('refuses a failed code exchange (wrong client secret) with 502 and an ID token with a broken signature', async () => {
    bare.accounts.set('u-kim', { mail: 'kim@bare.example', email_verified: true, name: 'Kim', grp: [] });
    bare.next = { accountId: 'u-kim' };
    expect((await api('PATCH', path(a, 'bare'), { client_secret: 'not-the-secret' })).status).toBe(200);
    const exchange = await signInThrough(rp, browser(), {}, { idp_hint: 'bare' });
    expect(exchange.page.status).toBe(502);
    expect(await lastFailure(a)).toMatchObject({ details: { reason: 'exchange_failed', upstream_error: 'invalid_client' } });
    expect((await api('PATCH', path(a, 'bare'), { client_secret: SECRET })).status).toBe(200);
    bare.tamperIdToken = true;
    try {
      const forged = await signInThrough(rp, browser(), {}, { idp_hint: 'bare' });
      expect(forged.page.status).toBe(502);
      expect(await lastFailure(a)).toMatchObject({ details: { reason: 'invalid_id_token' } });
    } finally {
      bare.tamperIdToken = false;
    }
    for (const line of logLines) expect(line).not.toContain(SECRET);
  });

  it('answers 503 when the upstream cannot be reached', async () => {
    const port = await freePort();
    expect((await api('POST', path(a), connection({ name: 'gone', issuer: `http://127.0.0.1:${port}`, email_domains: [] }))).status).toBe(201);
    const { page } = await signInThrough(rp, browser(), {}, { idp_hint: 'gone' });
    expect(page.status).toBe(503);
    expect(page.html).not.toMatch(/ECONNREFUSED|stack/i);
    expect(await lastFailure(a)).toMatchObject({ details: { connection: 'oidc/gone', reason: 'upstream_unreachable' } });
  });

  it('refuses a user disabled locally although the upstream signs them in', async () => {
    bare.accounts.set('u-jay', { mail: 'jay@bare.example', email_verified: true, name: 'Jay', grp: [] });
    bare.next = { accountId: 'u-jay' };
    const first = await signInThrough(rp, browser(), {}, { idp_hint: 'bare' });
    await first.redeem();
    const local = (await findUserCredentialsByEmail(gh.deps.db, a.id, 'jay@bare.example'))!.user;
    await changeUser(gh.deps, a, local.id, { disabled: true }, CLI_ACTOR);
    const { page } = await signInThrough(rp, browser(), {}, { idp_hint: 'bare' });
    expect(page.status).toBe(403);
    expect(await lastFailure(a)).toMatchObject({ details: { reason: 'user_disabled' } });
  });
});

describe('without OUTBOUND_ALLOW', () => {
  it('never reaches an upstream on a loopback address (SSRF guard)', async () => {
    const strict = await startTestGatehouse();
    try {
      const tenant = await strict.tenant();
      const strictApi = adminApi(strict, (await adminToken(strict, tenant, ['tenant-admin'])).token);
      expect((await strictApi('POST', path(tenant), connection({ email_domains: [], group_role_mapping: {} }))).status).toBe(201);
      const before = upstreamRequests;
      const { page } = await signInThrough(await rpOf(strict, tenant), new FederationBrowser(strict.url, bare.issuer), {}, { idp_hint: 'bare' });
      expect(page.status).toBe(502);
      expect(upstreamRequests).toBe(before);
      const failure = await strict.deps.db('audit_events').where({ tenant_id: tenant.id, type: 'federation.login.failed' }).first();
      expect(failure.details).toMatchObject({ connection: 'oidc/bare', reason: 'outbound_refused' });
    } finally {
      await strict.stop();
    }
  }, 120_000);
});
