import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

let gh: TestGatehouse;
let tenant: Tenant;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
let app: { clientId: string; clientSecret?: string; redirectUri: string };

beforeAll(async () => {
  gh = await startTestGatehouse();
  tenant = await gh.tenant();
  api = await systemAdminApi(gh);
  app = await gh.client(tenant);
});
afterAll(() => gh.stop());

const rp = () => RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, ...app });
const events = async (type: string) => (await api('GET', `/tenants/${tenant.slug}/audit-events?type=${type}`)).body.items;

describe('token.revoked in the audit trail', () => {
  it('records a refresh token revoked at the revocation endpoint, without the token', async () => {
    const user = await gh.user(tenant);
    const party = await rp();
    const tokens = await party.login(user);
    await party.revoke(tokens.refresh_token!);
    await expect(party.refresh(tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const [event] = await events('token.revoked');
    expect(event).toMatchObject({ actor: `client:${app.clientId}`, subject: `user:${user.id}`, details: { kinds: ['refresh_token'], via: 'revocation' } });
    expect(JSON.stringify(event)).not.toContain(tokens.refresh_token);
  });

  it('records the grant revoked when a rotated refresh token is reused', async () => {
    const user = await gh.user(tenant);
    const party = await rp();
    const first = await party.login(user);
    await party.refresh(first.refresh_token!);
    await expect(party.refresh(first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const [event] = await events('token.revoked');
    expect(event).toMatchObject({ outcome: 'failure', subject: `user:${user.id}`, details: { via: 'refresh_token_reuse', grant_revoked: true } });
  });

  it('records the grant revoked when a code is redeemed twice, naming its user', async () => {
    const user = await gh.user(tenant);
    const party = await rp();
    const pending = await party.authorize(user);
    const tokens = await party.redeem(pending.callback, pending.verifier, pending.state);
    await expect(party.redeem(pending.callback, pending.verifier, pending.state)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(party.refresh(tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const [event] = await events('token.revoked');
    expect(event).toMatchObject({ actor: `client:${app.clientId}`, subject: `user:${user.id}`, outcome: 'failure', details: { via: 'authorization_code_reuse', grant_revoked: true } });
  });
});

describe('max_sessions_per_user', () => {
  it('ends the oldest session, with its refresh tokens, when a login goes past the limit', async () => {
    expect((await api('PATCH', `/tenants/${tenant.slug}`, { max_sessions_per_user: 2 })).status).toBe(200);
    const user = await gh.user(tenant);
    const parties = [await rp(), await rp(), await rp()];
    const tokens = [];
    for (const party of parties) tokens.push(await party.login(user));
    const sessions = (await api('GET', `/tenants/${tenant.slug}/users/${user.id}/sessions`)).body.items;
    expect(sessions).toHaveLength(2);
    await expect(parties[0].refresh(tokens[0].refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(parties[2].refresh(tokens[2].refresh_token!)).resolves.toHaveProperty('access_token');
    const [event] = await events('session.revoked');
    expect(event).toMatchObject({ actor: 'system', subject: `user:${user.id}`, details: { reason: 'max_sessions_per_user', limit: 2 } });
  });
});

describe('one use only, even at the same instant', () => {
  it('redeems an authorization code once when token requests race with it (reproduces against PostgreSQL + Redis)', async () => {
    // Several codes: the losing interleaving (a redemption that read the code before the first
    // consumed it, and consumes after a third revoked its grant) shows in some rounds only.
    const user = await gh.user(tenant);
    const party = await rp();
    for (let round = 0; round < 8; round++) {
      const pending = await party.authorize(user);
      const results = await Promise.allSettled(Array.from({ length: 12 }, () => party.redeem(pending.callback, pending.verifier, pending.state)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results.filter((x) => x.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ error: 'invalid_grant' });
    }
  });

  it('accepts a client assertion once when token requests race with it (RFC 7523 §3: jti; reproduces against PostgreSQL + Redis)', async () => {
    // A tenant of its own, whose client_auth_failures limit is off: every refusal here is one.
    const own = await gh.tenant();
    expect((await api('PATCH', `/tenants/${own.slug}`, { rate_limits: { client_auth_failures: { limit: 0 } } })).status).toBe(200);
    const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
    const created = await api('POST', `/tenants/${own.slug}/clients`, {
      client_name: 'Signed', token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials'], redirect_uris: [],
      jwks: { keys: [{ ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] },
    });
    expect(created.status).toBe(201);
    const clientId = created.body.client_id;
    const tokenUrl = `${gh.url}/t/${own.slug}/token`;
    const token = (assertion: string) => fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }),
    }).then(async (res) => ({ status: res.status, body: await res.json() }));
    for (let round = 0; round < 6; round++) {
      const assertion = await new jose.SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(clientId).setSubject(clientId).setAudience(tokenUrl).setIssuedAt().setExpirationTime('1m').sign(privateKey);
      const answers = await Promise.all(Array.from({ length: 8 }, () => token(assertion)));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
      for (const a of answers.filter((x) => x.status !== 200)) expect(a).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
      expect(await token(assertion)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    }
  });

  it('revokes the grant when a refresh token loses the race to be rotated (RFC 9700 §4.14.2)', async () => {
    // Laid out step by step: two refreshes both read the token unused; one rotates it; the other
    // is refused, and takes the grant down with it, as a later reuse would.
    const user = await gh.user(tenant);
    const party = await rp();
    const tokens = await party.login(user);
    const provider = (await gh.registry.providerFor(tenant))!;
    const [first, second] = await Promise.all([provider.RefreshToken.find(tokens.refresh_token!), provider.RefreshToken.find(tokens.refresh_token!)]);
    expect([first?.isValid, second?.isValid]).toEqual([true, true]);
    await first!.consume();
    await expect(second!.consume()).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await provider.Grant.find(first!.grantId!)).toBeUndefined();
    await expect(party.userinfo(tokens.access_token, user.id)).rejects.toBeTruthy();
    await expect(party.refresh(tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('rotates a refresh token once when refreshes race with it', async () => {
    const user = await gh.user(tenant);
    const party = await rp();
    const tokens = await party.login(user);
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => party.refresh(tokens.refresh_token!)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });
});
