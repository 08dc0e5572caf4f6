import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { parseCidr } from '../../../src/config/cidr.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** The relying parties' back end: records every Logout Token POSTed to it; /slow never answers. */
interface Delivery {
  path: string;
  contentType?: string;
  token: string;
}
let rpServer: Server;
let rpOrigin: string;
const deliveries: Delivery[] = [];

beforeAll(async () => {
  rpServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c)).on('end', () => {
      deliveries.push({ path: req.url!, contentType: req.headers['content-type'], token: new URLSearchParams(body).get('logout_token') ?? '' });
      if (req.url !== '/slow') res.writeHead(200).end();
    });
  });
  rpServer.listen(0, '127.0.0.1');
  await new Promise((resolve) => rpServer.once('listening', resolve));
  rpOrigin = `http://127.0.0.1:${(rpServer.address() as AddressInfo).port}`;
});
afterAll(async () => {
  rpServer.closeAllConnections();
  await new Promise((resolve) => rpServer.close(resolve));
});

const deliveriesFor = (sub: string) => deliveries.filter((d) => d.token && decodeJwt(d.token).sub === sub);

async function waitForDeliveries(sub: string, count: number, timeoutMs = 8000) {
  const until = Date.now() + timeoutMs;
  while (deliveriesFor(sub).length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
  return deliveriesFor(sub);
}

interface Setup {
  gh: TestGatehouse;
  tenant: Tenant;
  issuer: string;
  api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
}

async function setUp(outboundAllow: string[]): Promise<Setup> {
  const gh = await startTestGatehouse({ outboundAllow: outboundAllow.map((c) => parseCidr(c)!) });
  const tenant = await gh.tenant();
  return { gh, tenant, issuer: `${gh.url}/t/${tenant.slug}`, api: await systemAdminApi(gh) };
}

/** A client registered through the admin API, back-channel logout metadata included. */
async function registerApp(s: Setup, metadata: Record<string, unknown>) {
  const res = await s.api('POST', `/tenants/${s.tenant.slug}/clients`, {
    client_name: 'Back-channel app', redirect_uris: ['http://127.0.0.1:9/cb'], post_logout_redirect_uris: ['http://127.0.0.1:9/bye'], ...metadata,
  });
  expect(res.status).toBe(201);
  return { clientId: res.body.client_id as string, clientSecret: res.body.client_secret as string, redirectUri: 'http://127.0.0.1:9/cb' };
}

async function signIn(s: Setup, app: { clientId: string; clientSecret: string; redirectUri: string }, user: { email: string; password: string }) {
  const rp = await RelyingParty.discover({ issuer: s.issuer, ...app });
  const tokens = await rp.login(user);
  return { rp, tokens, sid: tokens.claims()!.sid as string };
}

async function endSessionAtOp(s: Setup, rp: RelyingParty, idToken: string) {
  const end = new URL(`${s.issuer}/session/end`);
  end.searchParams.set('id_token_hint', idToken);
  end.searchParams.set('post_logout_redirect_uri', 'http://127.0.0.1:9/bye');
  const html = await (await rp.browser.get(end.toString())).text();
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1];
  return rp.browser.post(`${s.issuer}/session/end/confirm`, { xsrf, logout: 'yes' });
}

describe('back-channel logout with OUTBOUND_ALLOW covering the relying party', () => {
  let s: Setup;
  let app: { clientId: string; clientSecret: string; redirectUri: string };
  let subOnlyApp: { clientId: string; clientSecret: string; redirectUri: string };
  const users = (path: string) => `/tenants/${s.tenant.slug}/users${path}`;

  beforeAll(async () => {
    s = await setUp(['127.0.0.1/32']);
    app = await registerApp(s, { backchannel_logout_uri: `${rpOrigin}/logout`, backchannel_logout_session_required: true });
    subOnlyApp = await registerApp(s, { backchannel_logout_uri: `${rpOrigin}/logout-sub` });
  });
  afterAll(() => s.gh.stop());

  /** OIDC Back-Channel Logout 1.0 §2.4 and §2.6, checked against the tenant's published JWKS. */
  async function expectLogoutToken(d: Delivery, clientId: string, sub: string, sid?: string) {
    expect(d.contentType).toBe('application/x-www-form-urlencoded');
    expect(decodeProtectedHeader(d.token).typ).toBe('logout+jwt');
    const { payload } = await jwtVerify(d.token, createRemoteJWKSet(new URL(`${s.issuer}/jwks`)), { issuer: s.issuer, audience: clientId, typ: 'logout+jwt' });
    expect(payload).toMatchObject({ sub, events: { [BACKCHANNEL_EVENT]: {} } });
    expect(payload.iat).toEqual(expect.any(Number));
    expect(payload.jti).toEqual(expect.any(String));
    expect(payload.nonce).toBeUndefined();
    if (sid) expect(payload.sid).toBe(sid);
    else expect(payload.sid).toBeUndefined();
  }

  it('accepts backchannel_logout_uri in client metadata and answers it back', async () => {
    const res = await s.api('GET', `/tenants/${s.tenant.slug}/clients/${app.clientId}`);
    expect(res.body).toMatchObject({ backchannel_logout_uri: `${rpOrigin}/logout`, backchannel_logout_session_required: true });
  });

  it('RP-initiated logout reaches the client on a loopback address', async () => {
    const user = await s.gh.user(s.tenant);
    const { rp, tokens, sid } = await signIn(s, app, user);
    const done = await endSessionAtOp(s, rp, tokens.id_token!);
    expect(done.status).toBe(303);
    const [delivery] = await waitForDeliveries(user.id, 1);
    expect(delivery.path).toBe('/logout');
    await expectLogoutToken(delivery, app.clientId, user.id, sid);
  });

  it('an admin revoking one session tells its client with a Logout Token the tenant signed', async () => {
    const user = await s.gh.user(s.tenant);
    const { sid } = await signIn(s, app, user);
    const [session] = (await s.api('GET', users(`/${user.id}/sessions`))).body.items;
    expect((await s.api('DELETE', users(`/${user.id}/sessions/${session.id}`))).status).toBe(204);
    const received = await waitForDeliveries(user.id, 1);
    expect(received).toHaveLength(1);
    await expectLogoutToken(received[0], app.clientId, user.id, sid);
    const { body } = await s.api('GET', `/tenants/${s.tenant.slug}/audit-events?type=session.revoked`);
    expect(body.items.some((e: any) => e.subject === `user:${user.id}` && e.details.sessions?.includes(session.id))).toBe(true);
  });

  it('revoking all sessions tells every client of every session; sid only to those that asked for it', async () => {
    const user = await s.gh.user(s.tenant);
    const first = await signIn(s, app, user);
    const second = await signIn(s, subOnlyApp, user);
    expect((await s.api('DELETE', users(`/${user.id}/sessions`))).status).toBe(204);
    const received = await waitForDeliveries(user.id, 2);
    expect(received.map((d) => d.path).sort()).toEqual(['/logout', '/logout-sub']);
    await expectLogoutToken(received.find((d) => d.path === '/logout')!, app.clientId, user.id, first.sid);
    await expectLogoutToken(received.find((d) => d.path === '/logout-sub')!, subOnlyApp.clientId, user.id);
    expect(second.sid).not.toBe(first.sid);
  });

  it('disabling a user tells the clients of their sessions', async () => {
    const user = await s.gh.user(s.tenant);
    const { sid } = await signIn(s, app, user);
    expect((await s.api('PATCH', users(`/${user.id}`), { disabled: true })).status).toBe(200);
    const [delivery] = await waitForDeliveries(user.id, 1);
    await expectLogoutToken(delivery, app.clientId, user.id, sid);
  });

  it('deleting a user tells the clients of their sessions', async () => {
    const user = await s.gh.user(s.tenant);
    const { sid } = await signIn(s, app, user);
    expect((await s.api('DELETE', users(`/${user.id}`))).status).toBe(204);
    const [delivery] = await waitForDeliveries(user.id, 1);
    await expectLogoutToken(delivery, app.clientId, user.id, sid);
  });

  it('a client that never answers neither delays nor fails the admin call; the failure is logged without the token', async () => {
    const slow = await registerApp(s, { backchannel_logout_uri: `${rpOrigin}/slow` });
    const user = await s.gh.user(s.tenant);
    await signIn(s, slow, user);
    const started = Date.now();
    expect((await s.api('DELETE', users(`/${user.id}/sessions`))).status).toBe(204);
    expect(Date.now() - started).toBeLessThan(1500);
    const [delivery] = await waitForDeliveries(user.id, 1);
    const until = Date.now() + 8000;
    const failed = () => logLines.find((l) => l.includes('backchannel.failed') && l.includes(slow.clientId));
    while (!failed() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(JSON.parse(failed()!)).toMatchObject({ level: 'warn', client_id: slow.clientId, user_id: user.id });
    expect(logLines.join('\n')).not.toContain(delivery.token);
  });

  it('writes no Logout Token to the logs', () => {
    const all = logLines.join('\n');
    for (const d of deliveries) expect(all).not.toContain(d.token);
  });
});

describe('back-channel logout without OUTBOUND_ALLOW', () => {
  let s: Setup;
  let app: { clientId: string; clientSecret: string; redirectUri: string };

  beforeAll(async () => {
    s = await setUp([]);
    app = await registerApp(s, { backchannel_logout_uri: `${rpOrigin}/refused`, backchannel_logout_session_required: true });
  });
  afterAll(() => s.gh.stop());

  const refusals = () => logLines.filter((l) => l.includes('backchannel.failed') && l.includes(app.clientId));
  async function waitForRefusals(count: number) {
    const until = Date.now() + 8000;
    while (refusals().length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    return refusals();
  }

  it('refuses to reach a loopback relying party, and logout and revocation still complete', async () => {
    const user = await s.gh.user(s.tenant);
    const { rp, tokens } = await signIn(s, app, user);
    const done = await endSessionAtOp(s, rp, tokens.id_token!);
    expect(done.status).toBe(303);
    expect((await rp.startLogin()).html).toContain('name="password"');

    await signIn(s, app, user);
    expect((await s.api('DELETE', `/tenants/${s.tenant.slug}/users/${user.id}/sessions`)).status).toBe(204);
    expect((await s.api('GET', `/tenants/${s.tenant.slug}/users/${user.id}/sessions`)).body.items).toEqual([]);

    const logged = await waitForRefusals(2);
    expect(logged).toHaveLength(2);
    for (const line of logged) expect(JSON.parse(line).reason).toMatch(/127\.0\.0\.1 is a special-use address outside OUTBOUND_ALLOW/);
    expect(deliveries.filter((d) => d.path === '/refused')).toEqual([]);
  });
});
