import { jest } from '@jest/globals';
import type { Gatehouse } from '../../../src/app.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { systemAdminApi } from '../../support/admin.js';
import { csrfOf } from '../../support/browser.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { startSecondNode } from '../../support/nodes.js';
import { hasRedisServer, RedisCluster } from '../../support/redis-cluster.js';
import { RelyingParty } from '../../support/relying-party.js';
import { oathtoolCode } from '../../support/totp.js';

// DESIGN.md "Configuration" REDIS_CLUSTER_NODES: two Gatehouse nodes on one PostgreSQL database
// and a real 3-master Redis Cluster share logins, codes, lockouts and one-time codes. Each
// tenant's keys stay in one slot ({tenant} hash tag); the tenants below are chosen so that every
// master serves one of them.
const why = !hasRedisServer() ? 'redis-server is not installed (apt-get install redis-server)'
  : !process.env.DATABASE_URL ? 'two nodes need a shared PostgreSQL (DATABASE_URL); the embedded database belongs to one process'
    : undefined;
if (why) console.warn(`redis-cluster.test.ts skipped: ${why}`);
const describeIfCluster = why ? describe.skip : describe;

jest.setTimeout(120_000);

let cluster: RedisCluster;
let gh: TestGatehouse;
let nodeB: Gatehouse;
/** One tenant per master of the cluster, in the order of cluster.ports. */
let tenants: Tenant[];

beforeAll(async () => {
  if (why) return;
  cluster = await RedisCluster.start(3);
  gh = await startTestGatehouse({ redisUrl: undefined, redisClusterNodes: [cluster.nodes[0]] });
  nodeB = (await startSecondNode(gh, { sharedKv: true }))!;
  const byMaster = new Map<number, Tenant>();
  for (let i = 0; i < 40 && byMaster.size < cluster.ports.length; i++) {
    const tenant = await gh.tenant();
    const master = await cluster.masterOf(`{${tenant.id}}`);
    if (!byMaster.has(master)) byMaster.set(master, tenant);
  }
  tenants = cluster.ports.map((p) => byMaster.get(p)!);
}, 180_000);
afterAll(async () => {
  if (why) return;
  await nodeB?.close();
  await gh?.stop();
  await cluster?.stop();
});

const rpOn = async (tenant: Tenant, base: string, app: { clientId: string; clientSecret?: string; redirectUri: string }) =>
  RelyingParty.discover({ issuer: `${base}/t/${tenant.slug}`, ...app });

async function tokenRequest(base: string, tenant: Tenant, app: { clientId: string; clientSecret?: string }, body: Record<string, string>) {
  const res = await fetch(`${base}/t/${tenant.slug}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

describeIfCluster('two nodes on a 3-master Redis Cluster', () => {
  it('are ready, and /readyz checks every master', async () => {
    for (const base of [gh.url, nodeB.url]) {
      const res = await fetch(`${base}/readyz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ checks: { kv: true } });
    }
    expect(tenants.every(Boolean)).toBe(true);
    // One node listed in REDIS_CLUSTER_NODES: warned at start (docs/scaling.md "Redis Cluster").
    expect(logLines.some((l) => l.includes('kv.cluster_single_node'))).toBe(true);
  });

  it('log in on one node and refresh on the other; a code redeemed on one is refused on the other', async () => {
    const tenant = tenants[0];
    const user = await gh.user(tenant);
    const app = await gh.client(tenant);
    const rpA = await rpOn(tenant, gh.url, app);
    const rpB = await rpOn(tenant, nodeB.url, app);

    const tokens = await rpA.login(user);
    expect(tokens.claims()?.sub).toBe(user.id);
    const refreshed = await rpB.refresh(tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    expect(await rpB.userinfo(refreshed.access_token, user.id)).toMatchObject({ email: user.email });

    // The interaction (a kv artifact) is started on B and the code redeemed on A, then replayed on B.
    const { callback, verifier } = await rpB.authorize(user);
    const code = callback.searchParams.get('code')!;
    const redeem = { grant_type: 'authorization_code', code, redirect_uri: app.redirectUri, code_verifier: verifier };
    const first = await tokenRequest(gh.url, tenant, app, redeem);
    expect(first.status).toBe(200);
    const replay = await tokenRequest(nodeB.url, tenant, app, redeem);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
  });

  it('hold a lockout set on one node on the other', async () => {
    const tenant = tenants[1];
    const api = await systemAdminApi(gh);
    expect((await api('PATCH', `/tenants/${tenant.slug}`, { lockout: { max_failed_attempts: 3, window_seconds: 600, duration_seconds: 600 } })).status).toBe(200);
    const user = await gh.user(tenant);
    const app = await gh.client(tenant);
    const tryPassword = async (base: string, password: string) => {
      const rp = await rpOn(tenant, base, app);
      const start = await rp.startLogin();
      return (await rp.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email: user.email, password })).status;
    };
    expect(await tryPassword(nodeB.url, user.password)).toBe(303); // the tenant's settings reached B
    for (const n of [1, 2, 3]) expect(await tryPassword(gh.url, `wrong-${n}`)).toBe(401);
    expect(await tryPassword(nodeB.url, user.password)).toBe(401); // locked, on the other node too
    const locked = await gh.deps.db('audit_events').where({ tenant_id: tenant.id, type: 'account.locked', subject: `user:${user.id}` });
    expect(locked).toHaveLength(1);
  });

  it('refuse a TOTP code replayed on the other node', async () => {
    const tenant = tenants[2];
    const api = await systemAdminApi(gh);
    expect((await api('PATCH', `/tenants/${tenant.slug}`, { mfa_required: true })).status).toBe(200);
    const user = await gh.user(tenant);
    const app = await gh.client(tenant);
    const rpA = await rpOn(tenant, gh.url, app);
    let secret = '';
    await rpA.login(user, { scope: 'openid' }, { enrolled: (s) => { secret = s; }, enrollCode: (s) => oathtoolCode(s) });
    expect(secret).toMatch(/^[A-Z2-7]+$/);

    const toCodeForm = async (base: string) => {
      const rp = await rpOn(tenant, base, app);
      const start = await rp.startLogin({ scope: 'openid' });
      const res = await rp.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email: user.email, password: user.password });
      expect(res.status).toBe(303);
      const page = await rp.browser.follow(new URL(res.headers.get('location')!, start.at).toString(), base);
      return { rp, at: page.url, html: await page.res.text() };
    };
    const code = oathtoolCode(secret, 30); // the next step's code: not the one used at enrollment
    const onA = await toCodeForm(gh.url);
    const onB = await toCodeForm(nodeB.url);
    expect((await onA.rp.browser.post(`${onA.at}/mfa`, { csrf: csrfOf(onA.html), code })).status).toBe(303);
    const replay = await onB.rp.browser.post(`${onB.at}/mfa`, { csrf: csrfOf(onB.html), code });
    expect(replay.status).toBe(401);
  });

  it('carry a message published on one node to a subscriber on the other (kv pub/sub on the cluster)', async () => {
    const channel = `${gh.deps.kvPrefix}{${tenants[0].id}}:test-channel`;
    const heard = new Promise<string>((resolve) => void gh.deps.kv.subscribe(channel, resolve));
    await new Promise((r) => setTimeout(r, 200)); // the subscription is made
    await nodeB.deps.kv.publish(channel, 'hello from B');
    expect(await heard).toBe('hello from B');
  });

  it('spread the tenants over every master, and never let a rate limit fail open', async () => {
    const prefix = gh.deps.kvPrefix;
    for (const [i, port] of cluster.ports.entries()) {
      const keys = await cluster.keysOn(port, prefix);
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.some((k) => k.startsWith(`${prefix}{${tenants[i].id}}:`))).toBe(true);
      // A key lives on the master of its tenant's slot, so a tenant's multi-key commands never cross slots.
      const foreign = keys.filter((k) => !k.startsWith(`${prefix}{${tenants[i].id}}:`) && tenants.some((t, j) => j !== i && k.startsWith(`${prefix}{${t.id}}:`)));
      expect(foreign).toEqual([]);
    }
    const logs = logLines.join('\n');
    expect(logs).not.toContain('rate_limit.store_unavailable');
    expect(logs).not.toMatch(/CROSSSLOT|MOVED|ClusterCrossSlot/);
  });

  it('answer /readyz 503 within a second and 503 on a tenant, never a 500, when a master is lost', async () => {
    await cluster.kill(cluster.ports[1]);
    for (const base of [gh.url, nodeB.url]) {
      const started = Date.now();
      const res = await fetch(`${base}/readyz`);
      expect(Date.now() - started).toBeLessThan(1500);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ checks: { kv: false } });
    }
    // The tenant whose slots that master served: its interactions live there.
    const tenant = tenants[1];
    const app = await gh.client(tenant);
    const rp = await rpOn(tenant, gh.url, app);
    const start = await rp.startLogin();
    expect(start.res.status).toBe(503);
    const logs = logLines.join('\n');
    expect(logs).not.toMatch(/request\.failed|provider\.server_error/);
  });
});
