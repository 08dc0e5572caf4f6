import { randomBytes } from 'node:crypto';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { csrfOf } from '../../support/browser.js';
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
const users = (path: string) => `/tenants/${tenant.slug}/users${path}`;

describe('user sessions', () => {
  it('lists each browser session with its client, address and user agent, never its cookie value', async () => {
    const user = await gh.user(tenant);
    const first = await rp();
    await first.login(user);
    await (await rp()).login(user);
    const res = await api('GET', users(`/${user.id}/sessions`));
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(2);
    expect(res.body.items[0]).toEqual({
      id: expect.any(String), created_at: expect.any(String), last_used_at: expect.any(String),
      ip: expect.stringMatching(/127\.0\.0\.1|::1/), user_agent: expect.any(String), client_ids: [app.clientId],
    });
    const cookies = first.browser.jar.header();
    for (const s of res.body.items) expect(cookies).not.toContain(s.id);
  });

  it('revoking one session revokes its refresh tokens and leaves the other session alone', async () => {
    const user = await gh.user(tenant);
    const a = await rp();
    const ta = await a.login(user);
    const b = await rp();
    const tb = await b.login(user);
    const { body } = await api('GET', users(`/${user.id}/sessions`));
    // Most recently used first: A signed in first, so its session is the last.
    const sessionOfA = body.items[body.items.length - 1];
    expect((await api('DELETE', users(`/${user.id}/sessions/${sessionOfA.id}`))).status).toBe(204);
    await expect(a.refresh(ta.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(b.refresh(tb.refresh_token!)).resolves.toHaveProperty('access_token');
    expect((await api('GET', users(`/${user.id}/sessions`))).body.items.map((s: any) => s.id)).not.toContain(sessionOfA.id);
    expect((await api('DELETE', users(`/${user.id}/sessions/${sessionOfA.id}`))).status).toBe(404);
    // The browser of A has to sign in again.
    const again = await a.startLogin();
    expect(again.html).toContain('name="password"');
  });

  it('revoking a session refuses a code issued under it but not yet redeemed', async () => {
    const user = await gh.user(tenant);
    const party = await rp();
    const pending = await party.authorize(user);
    const [session] = (await api('GET', users(`/${user.id}/sessions`))).body.items;
    expect((await api('DELETE', users(`/${user.id}/sessions/${session.id}`))).status).toBe(204);
    await expect(party.redeem(pending.callback, pending.verifier, pending.state)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('revoking all sessions signs the user out everywhere, offline refresh tokens included', async () => {
    const user = await gh.user(tenant);
    const a = await rp();
    const ta = await a.login(user);
    expect((await api('DELETE', users(`/${user.id}/sessions`))).status).toBe(204);
    expect((await api('GET', users(`/${user.id}/sessions`))).body.items).toEqual([]);
    await expect(a.refresh(ta.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const { body } = await api('GET', `/tenants/${tenant.slug}/audit-events?type=session.revoked`);
    expect(body.items.some((e: any) => e.subject === `user:${user.id}` && e.actor.startsWith('client:'))).toBe(true);
  });

  it('answers 404 for unknown users and sessions', async () => {
    expect((await api('GET', users('/00000000-0000-4000-8000-000000000000/sessions'))).status).toBe(404);
    expect((await api('GET', users('/x/sessions'))).status).toBe(404);
    const user = await gh.user(tenant);
    expect((await api('DELETE', users(`/${user.id}/sessions/nope`))).status).toBe(404);
    expect((await api('DELETE', users(`/${user.id}/sessions/${'%27%20or%201=1--'}`))).status).toBe(404);
  });
});

describe('lockout and MFA reset', () => {
  it('unlocks a locked account so the right password works again', async () => {
    expect((await api('PATCH', `/tenants/${tenant.slug}`, { lockout: { max_failed_attempts: 2 } })).status).toBe(200);
    const user = await gh.user(tenant);
    const party = await rp();
    const tryPassword = async (password: string) => {
      const start = await party.startLogin();
      const res = await party.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email: user.email, password });
      return res.status;
    };
    expect(await tryPassword('wrong-1')).not.toBe(303);
    expect(await tryPassword('wrong-2')).not.toBe(303);
    expect(await tryPassword(user.password)).not.toBe(303); // locked
    expect((await api('POST', users(`/${user.id}/unlock`))).status).toBe(204);
    expect(await tryPassword(user.password)).toBe(303);
    const { body } = await api('GET', `/tenants/${tenant.slug}/audit-events?type=account.unlocked`);
    expect(body.items[0]).toMatchObject({ subject: `user:${user.id}`, details: { was_locked: true } });
  });

  it('removes MFA factors and recovery codes and records mfa.reset', async () => {
    const user = await gh.user(tenant);
    await gh.deps.db('user_mfa_factors').insert({ tenant_id: tenant.id, user_id: user.id, type: 'totp', secret_encrypted: 'x', confirmed_at: new Date() });
    await gh.deps.db('user_recovery_codes').insert({ tenant_id: tenant.id, user_id: user.id, code_hash: randomBytes(8).toString('hex') });
    expect((await api('DELETE', users(`/${user.id}/mfa`))).status).toBe(204);
    expect(await gh.deps.db('user_mfa_factors').where({ tenant_id: tenant.id, user_id: user.id })).toHaveLength(0);
    expect(await gh.deps.db('user_recovery_codes').where({ tenant_id: tenant.id, user_id: user.id })).toHaveLength(0);
    const { body } = await api('GET', `/tenants/${tenant.slug}/audit-events?type=mfa.reset`);
    expect(body.items[0]).toMatchObject({ subject: `user:${user.id}`, details: { factors: ['totp'], recovery_sheet_entries: 1 } });
  });
});
