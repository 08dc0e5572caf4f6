import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { freshDatabase } from '../../support/database.js';
import { ensureBuilt, hasHaproxy, Haproxy, Load, NodeProcess, type Outcome } from '../../support/fleet.js';
import { freePort, PrivateRedis } from '../../support/outages.js';
import { hasRedisServer } from '../../support/redis-cluster.js';
import { RelyingParty } from '../../support/relying-party.js';

// DESIGN.md "Operations" / issue 12 item 8: three compiled nodes (node dist/src/main.js) on one
// PostgreSQL database and one Redis, behind a real HAProxy that checks /readyz. Logins and
// client_credentials grants run through it without pause; one node is SIGKILLed mid-run. Only the
// operations in flight on that node at that instant may fail; once HAProxy marks it down every
// operation succeeds, and tokens issued before the kill keep working through the other nodes.
const why = !process.env.DATABASE_URL ? 'needs PostgreSQL (DATABASE_URL) shared by three processes'
  : !hasHaproxy() ? 'haproxy is not installed (apt-get install haproxy)'
    : !hasRedisServer() ? 'redis-server is not installed' : undefined;
if (why) console.warn(`load-balancer.test.ts skipped: ${why}`);
const describeIfReady = why ? describe.skip : describe;

jest.setTimeout(180_000);

/** Operations in flight at once: each worker waits for its answer before the next. */
const WORKERS = 6;

let db: Awaited<ReturnType<typeof freshDatabase>>;
let redis: PrivateRedis;
let lb: Haproxy;
let nodes: NodeProcess[] = [];
const adminId = 'ops-admin';
const adminSecret = randomBytes(24).toString('base64url');

beforeAll(async () => {
  if (why) return;
  ensureBuilt();
  db = await freshDatabase('gh_lb');
  redis = new PrivateRedis(await freePort());
  await redis.start();
  const ports = [await freePort(), await freePort(), await freePort()];
  lb = new Haproxy(ports.map((port, i) => ({ name: `n${i + 1}`, port })), await freePort());
  const env = {
    DATABASE_URL: db.url!, REDIS_URL: redis.url, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'), PUBLIC_URL: lb.url,
    TRUST_PROXY: 'loopback', BCRYPT_COST: '4', LOG_LEVEL: 'info', GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID: adminId, GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET: adminSecret,
  };
  nodes = ports.map((port, i) => new NodeProcess(`n${i + 1}`, port, env));
  await nodes[0].start(); // the first migrates; the others find the schema up to date
  await Promise.all(nodes.slice(1).map((n) => n.start()));
  await lb.start();
  for (let i = 0; i < 100 && Object.values(await lb.statuses()).some((s) => s !== 'UP'); i++) await sleep(100);
}, 300_000);
afterAll(async () => {
  if (why) return;
  await lb?.stop();
  await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
  await redis?.stop();
  await db?.drop();
});

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function form(url: string, auth: string, body: Record<string, string>) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, body: new URLSearchParams(body) });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, any> };
}

async function api(token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${lb.url}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

describeIfReady('three nodes behind HAProxy, one killed under load', () => {
  it('fails only what was in flight on the killed node, then serves everything, old tokens included', async () => {
    expect(await lb.statuses()).toEqual({ n1: 'UP', n2: 'UP', n3: 'UP' });
    const admin = await form(`${lb.url}/t/system/token`, basic(adminId, adminSecret), { grant_type: 'client_credentials', resource: `${lb.url}/admin` });
    expect(admin.status).toBe(200);
    const token = admin.body.access_token as string;
    const slug = `lb-${randomBytes(3).toString('hex')}`;
    await api(token, 'POST', '/tenants', { slug, name: 'Load balanced' });
    // Every login comes from 127.0.0.1: the per-address and per-account login limits are lifted for the run.
    await api(token, 'PATCH', `/tenants/${slug}`, { rate_limits: { login_per_ip: { limit: 0, window_seconds: 60 }, login_per_account: { limit: 0, window_seconds: 60 } } });
    const machine = await api(token, 'POST', `/tenants/${slug}/clients`, { client_name: 'Machine', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] });
    const redirectUri = 'http://127.0.0.1:9/cb';
    const web = await api(token, 'POST', `/tenants/${slug}/clients`, { client_name: 'Web', redirect_uris: [redirectUri] });
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const user = await api(token, 'POST', `/tenants/${slug}/users`, { email: 'ada@example.com', password, name: 'Ada', email_verified: true });
    const issuer = `${lb.url}/t/${slug}`;
    const machineAuth = basic(machine.client_id, machine.client_secret);
    const grant = () => form(`${issuer}/token`, machineAuth, { grant_type: 'client_credentials' });
    const login = async () => {
      const rp = await RelyingParty.discover({ issuer, clientId: web.client_id, clientSecret: web.client_secret, redirectUri });
      return { rp, tokens: await rp.login({ email: 'ada@example.com', password }) };
    };

    // Tokens issued before the kill, by whichever nodes HAProxy chose.
    const before = await grant();
    expect(before.status).toBe(200);
    const earlier = await login();
    expect(earlier.tokens.refresh_token).toBeTruthy();

    const load = new Load([
      { kind: 'client_credentials', run: async () => { const r = await grant(); return { ok: r.status === 200 && Boolean(r.body.access_token), status: r.status, detail: r.body.error }; } },
      { kind: 'login', run: async () => { const { tokens } = await login(); return { ok: Boolean(tokens.access_token && tokens.id_token) }; } },
    ], WORKERS).start();
    await sleep(3000);
    const victim = nodes[1];
    const killAt = Date.now();
    await victim.kill('SIGKILL');
    const diedAt = victim.exitedAt!;
    let downAt = 0;
    while (!downAt && Date.now() - killAt < 20_000) {
      if ((await lb.statuses()).n2?.startsWith('DOWN')) downAt = Date.now();
      else await sleep(50);
    }
    expect(downAt).toBeGreaterThan(0);
    await sleep(4000);
    await load.stop();

    const all = load.outcomes;
    const failed = all.filter((o) => !o.ok);
    const describeOutcome = (o: Outcome) => `${o.kind} ${o.start - killAt}..${o.end - killAt} ms ${o.status ?? ''} ${o.detail ?? ''}`;
    console.log(`load balancer: ${all.length} operations, ${failed.length} failed; n2 marked down ${downAt - killAt} ms after the kill` + (failed.length ? `\n${failed.map(describeOutcome).join('\n')}` : ''));
    // Each worker has one operation in flight: at most all of them were on the killed node at that instant.
    expect(failed.length).toBeLessThanOrEqual(WORKERS);
    // A failure is an operation that was in flight when the node died.
    for (const o of failed) expect({ outcome: describeOutcome(o), inFlight: o.start <= diedAt && o.end >= killAt }).toEqual({ outcome: describeOutcome(o), inFlight: true });
    const after = all.filter((o) => o.start >= downAt);
    expect(after.filter((o) => o.kind === 'client_credentials').length).toBeGreaterThan(0);
    expect(after.filter((o) => o.kind === 'login').length).toBeGreaterThan(0);
    expect(after.filter((o) => !o.ok).map(describeOutcome)).toEqual([]);
    expect(all.filter((o) => o.start < killAt && o.ok).length).toBeGreaterThan(0);

    // Tokens issued before the kill still work through the nodes left.
    for (let i = 0; i < 4; i++) {
      const introspected = await form(`${issuer}/token/introspection`, machineAuth, { token: before.body.access_token });
      expect(introspected.body.active).toBe(true);
    }
    const refreshed = await earlier.rp.refresh(earlier.tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    expect(await earlier.rp.userinfo(earlier.tokens.access_token, user.id)).toMatchObject({ email: 'ada@example.com' });

    // The nodes left logged no stack; the killed node's log ends where it was killed.
    for (const n of [nodes[0], nodes[2]]) expect(n.lines.filter((l) => /"stack"|\n\s+at /.test(l))).toEqual([]);
  });
});
