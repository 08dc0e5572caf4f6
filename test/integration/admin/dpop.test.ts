import { createHash, randomUUID } from 'node:crypto';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import { findTenantBySlug } from '../../../src/domain/tenants/tenants.queries.js';
import { adminToken } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

/**
 * RFC 9449 §7.1 at the admin API: a DPoP-bound access token (cnf.jkt) is good only with a proof
 * by its key for this very request, and never as a bearer token (DESIGN.md lists DPoP).
 */
let gh: TestGatehouse;
let config: oidc.Configuration;
let keyPair: CryptoKeyPair;
let dpop: oidc.DPoPHandle;
let bound: string;
let jwk: jose.JWK;

beforeAll(async () => {
  gh = await startTestGatehouse();
  const system = (await findTenantBySlug(gh.deps.db, 'system'))!;
  const app = await gh.client(system, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [], admin_access: true }, ['system-admin']);
  config = await oidc.discovery(new URL(`${gh.url}/t/system`), app.clientId, app.clientSecret, oidc.ClientSecretBasic(app.clientSecret!), { execute: [oidc.allowInsecureRequests] });
  keyPair = await oidc.randomDPoPKeyPair('ES256');
  dpop = oidc.getDPoPHandle(config, keyPair);
  const tokens = await oidc.clientCredentialsGrant(config, { resource: `${gh.url}/admin` }, { DPoP: dpop });
  expect(tokens.token_type).toBe('dpop');
  bound = tokens.access_token;
  jwk = await jose.exportJWK(keyPair.publicKey);
});
afterAll(() => gh.stop());

const url = (path: string) => `${gh.url}/admin/v1${path}`;
const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

/** A DPoP proof for GET /tenants with this token, unless `claims` or `header` say otherwise. */
function proof(claims: Record<string, unknown> = {}, header: Partial<jose.JWTHeaderParameters> = {}, key: CryptoKey = keyPair.privateKey) {
  return new jose.SignJWT({ htm: 'GET', htu: url('/tenants'), ath: ath(bound), jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk, ...header })
    .sign(key);
}

async function call(authorization: string, dpopProof?: string, method = 'GET', path = '/tenants') {
  const res = await fetch(url(path), { method, headers: { authorization, ...(dpopProof ? { dpop: dpopProof } : {}) } });
  return { status: res.status, type: res.headers.get('content-type') ?? '', challenge: res.headers.get('www-authenticate'), body: await res.json() };
}

describe('DPoP-bound admin tokens', () => {
  it('carries the key thumbprint of the proof that obtained it', async () => {
    expect(jose.decodeJwt(bound).cnf).toEqual({ jkt: await jose.calculateJwkThumbprint(jwk) });
  });

  it('refuses the bound token presented as a bearer token', async () => {
    const res = await call(`Bearer ${bound}`);
    expect(res).toMatchObject({ status: 401, body: { status: 401, code: 'invalid_token' } });
    expect(res.type).toContain('application/problem+json');
    expect(res.challenge).toMatch(/^DPoP error="invalid_token"/);
    // A proof alongside does not make a bearer presentation acceptable.
    expect((await call(`Bearer ${bound}`, await proof())).status).toBe(401);
  });

  it('accepts the bound token with a proof from openid-client, for reads and changes', async () => {
    const read = await oidc.fetchProtectedResource(config, bound, new URL(url('/tenants')), 'GET', null, undefined, { DPoP: dpop });
    expect(read.status).toBe(200);
    const slug = `d-${randomUUID().slice(0, 8)}`;
    const created = await oidc.fetchProtectedResource(config, bound, new URL(url('/tenants')), 'POST', JSON.stringify({ slug, name: 'Via DPoP' }), new Headers({ 'content-type': 'application/json' }), { DPoP: dpop });
    expect(created.status).toBe(201);
    expect((await call(`DPoP ${bound}`, await proof({ htu: url(`/tenants/${slug}`) }), 'GET', `/tenants/${slug}`)).status).toBe(200);
  });

  it('accepts a proof whose htu carries a query, which is not compared', async () => {
    expect((await call(`DPoP ${bound}`, await proof({ htu: `${url('/tenants')}?limit=1` }), 'GET', '/tenants?limit=1')).status).toBe(200);
  });

  it('refuses a replayed proof', async () => {
    const once = await proof();
    expect((await call(`DPoP ${bound}`, once)).status).toBe(200);
    const again = await call(`DPoP ${bound}`, once);
    expect(again).toMatchObject({ status: 401, body: { code: 'invalid_dpop_proof' } });
    expect(again.challenge).toMatch(/^DPoP error="invalid_dpop_proof"/);
  });

  it.each([
    ['no proof', /proof header is required/, async () => undefined],
    ['a proof for another method (htm)', /another HTTP method/, () => proof({ htm: 'POST' })],
    ['a proof for another URL (htu)', /another URL/, () => proof({ htu: url('/tenants/system') })],
    ['a proof for another host (htu)', /another URL/, () => proof({ htu: url('/tenants').replace('localhost', '127.0.0.1') })],
    ['a proof for another access token (ath)', /another access token/, () => proof({ ath: ath(`${bound}x`) })],
    ['a proof without ath', /another access token/, () => proof({ ath: undefined })],
    ['a stale proof (iat)', /not fresh/, () => proof({ iat: Math.floor(Date.now() / 1000) - 600 })],
    ['a proof from the future (iat)', /not fresh/, () => proof({ iat: Math.floor(Date.now() / 1000) + 600 })],
    ['a proof without jti', /jti/, () => proof({ jti: undefined })],
    ['a JWT that is not typed dpop+jwt', /malformed or its signature/, () => proof({}, { typ: 'JWT' })],
    ['a proof by another key than the token is bound to', /not signed by the key/, async () => {
      const other = await jose.generateKeyPair('ES256');
      return proof({}, { jwk: await jose.exportJWK(other.publicKey) }, other.privateKey);
    }],
    ['a proof whose signature does not verify with its jwk', /malformed or its signature/, async () => proof({}, {}, (await jose.generateKeyPair('ES256')).privateKey)],
    ['a proof with a symmetric algorithm', /malformed or its signature/, async () => {
      const secret = new TextEncoder().encode('0123456789abcdef0123456789abcdef');
      return new jose.SignJWT({ htm: 'GET', htu: url('/tenants'), ath: ath(bound), jti: randomUUID(), iat: Math.floor(Date.now() / 1000) })
        .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: jose.base64url.encode(secret) } as jose.JWK }).sign(secret);
    }],
  ])('refuses the bound token with %s', async (_what, detail, make) => {
    const res = await call(`DPoP ${bound}`, await make());
    expect(res).toMatchObject({ status: 401, body: { status: 401, code: 'invalid_dpop_proof', detail: expect.stringMatching(detail) } });
    expect(res.type).toContain('application/problem+json');
  });

  it('keeps plain bearer tokens working, and refuses them under the DPoP scheme', async () => {
    const system = (await findTenantBySlug(gh.deps.db, 'system'))!;
    const { token } = await adminToken(gh, system, ['system-admin']);
    expect(jose.decodeJwt(token).cnf).toBeUndefined();
    expect((await call(`Bearer ${token}`)).status).toBe(200);
    const res = await call(`DPoP ${token}`, await proof({ ath: ath(token) }));
    expect(res).toMatchObject({ status: 401, body: { code: 'invalid_token' } });
  });
});
