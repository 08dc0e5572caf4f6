import { spawnSync } from 'node:child_process';
import { loadConfig } from '../../../src/config/load.js';
import { CLI_ACTOR } from '../../../src/deps.js';
import { changeTenantSettings } from '../../../src/domain/tenants/tenants.service.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { adminToken } from '../../support/admin.js';
import { csrfOf } from '../../support/browser.js';
import { fetchFrom } from '../../support/from-address.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { RelyingParty } from '../../support/relying-party.js';

// DESIGN.md "Operations": GET /metrics, Prometheus text, only to METRICS_ALLOW peers, else 403.

/** The value of one series of an exposition, by its exact label set (Prometheus sorts nothing: prom-client writes labels in declaration order). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics after real traffic', () => {
  let gh: TestGatehouse;
  let tenant: Tenant;
  let text: string;
  const interactionUids: string[] = [];
  let user: { id: string; email: string; password: string };

  beforeAll(async () => {
    gh = await startTestGatehouse();
    tenant = await gh.tenant();
    // Four password attempts per address a minute: the fourth below is refused by the limit.
    tenant = await changeTenantSettings(gh.deps, tenant, { settings: { rate_limits: { ...tenant.settings.rate_limits, login_per_ip: { limit: 3, window_seconds: 60 } } } }, CLI_ACTOR);
    const app = await gh.client(tenant, { grant_types: ['authorization_code', 'refresh_token'] });
    user = await gh.user(tenant);
    const rp = await RelyingParty.discover({ issuer: `${gh.url}/t/${tenant.slug}`, ...app });
    // A login (attempt 1) with its code redeemed and the refresh token used once.
    const tokens = await rp.login(user);
    await rp.refresh(tokens.refresh_token!);
    // Two wrong passwords (attempts 2 and 3), then one over the limit (attempt 4).
    const start = await rp.startLogin({ prompt: 'login' });
    interactionUids.push(new URL(start.at).pathname.split('/').pop()!);
    const wrong = () => rp.browser.post(`${start.at}/login`, { csrf: csrfOf(start.html), email: user.email, password: 'not-the-password' });
    expect((await wrong()).status).toBe(401);
    expect((await wrong()).status).toBe(401);
    expect((await wrong()).status).toBe(429);
    // client_credentials at the admin resource, and the admin API with that token.
    const admin = await adminToken(gh, tenant, ['tenant-admin']);
    expect((await fetch(`${gh.url}/admin/v1/tenants/${tenant.slug}/users/${user.id}`, { headers: { authorization: `Bearer ${admin.token}` } })).status).toBe(200);
    // Paths nobody serves: outside any route, an unknown tenant, a tenant path no route takes.
    expect((await fetch(`${gh.url}/no/such/path`)).status).toBe(404);
    expect((await fetch(`${gh.url}/t/no-such-tenant/token`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${gh.url}/t/${tenant.slug}/no-such-thing`)).status).toBe(404);
    // Refused early, by a router's middleware rather than its route: still a template.
    await fetch(`${gh.url}/t/${tenant.slug}/account`, { redirect: 'manual' });
    expect((await fetch(`${gh.url}/admin/v1/tenants`)).status).toBe(401);
    expect((await fetch(`${gh.url}/admin/v1/no-such-route`)).status).toBe(404);
    const res = await fetch(`${gh.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    text = await res.text();
  }, 120_000);
  afterAll(() => gh?.stop());

  it('passes promtool check metrics', () => {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect({ status: check.status, out: check.stdout + check.stderr }).toEqual({ status: 0, out: '' });
  });

  it('counts logins by tenant and outcome, tokens by grant type, and rate-limit refusals by limit', () => {
    expect(sample(text, `gatehouse_logins_total{tenant="${tenant.slug}",outcome="succeeded"}`)).toBe(1);
    expect(sample(text, `gatehouse_logins_total{tenant="${tenant.slug}",outcome="failed"}`)).toBe(2);
    expect(sample(text, `gatehouse_logins_total{tenant="${tenant.slug}",outcome="rate_limited"}`)).toBe(1);
    expect(sample(text, `gatehouse_tokens_issued_total{tenant="${tenant.slug}",grant_type="authorization_code"}`)).toBe(1);
    expect(sample(text, `gatehouse_tokens_issued_total{tenant="${tenant.slug}",grant_type="refresh_token"}`)).toBe(1);
    expect(sample(text, `gatehouse_tokens_issued_total{tenant="${tenant.slug}",grant_type="client_credentials"}`)).toBe(1);
    expect(sample(text, 'gatehouse_rate_limited_total{limit="login_per_ip"}')).toBe(1);
  });

  it('labels requests by route template, method and status, never by slug, id or uid', () => {
    const series = (name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`));
    expect(sample(text, 'gatehouse_http_requests_total{route="/t/:tenant/token",method="POST",status="200"}')).toBe(3); // code, refresh, client_credentials
    expect(sample(text, 'gatehouse_http_requests_total{route="/t/:tenant/interaction/:uid/login",method="POST",status="401"}')).toBe(2);
    expect(sample(text, 'gatehouse_http_requests_total{route="/t/:tenant/interaction/:uid/login",method="POST",status="429"}')).toBe(1);
    expect(sample(text, 'gatehouse_http_requests_total{route="/t/:tenant/auth/:uid",method="GET",status="303"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'gatehouse_http_requests_total{route="/admin/v1/tenants/:slug/users/:id",method="GET",status="200"}')).toBe(1);
    expect(sample(text, 'gatehouse_http_requests_total{route="unmatched",method="GET",status="404"}')).toBe(3); // two paths and the admin API's unknown route
    expect(sample(text, 'gatehouse_http_requests_total{route="unmatched",method="POST",status="404"}')).toBe(1);
    expect(sample(text, 'gatehouse_http_request_duration_seconds_count{route="/t/:tenant/token",method="POST",status="200"}')).toBe(3);
    const http = [...series('gatehouse_http_requests_total'), ...series('gatehouse_http_request_duration_seconds_bucket')];
    for (const secret of [tenant.slug, interactionUids[0], user.id, 'no-such']) expect(http.filter((l) => l.includes(secret))).toEqual([]);
    const routes = new Set(http.map((l) => /route="([^"]*)"/.exec(l)![1]));
    for (const route of routes) expect(route).toMatch(/^(unmatched|\/(healthz|readyz|metrics)|\/t\/:tenant(\/[a-z0-9._:-]+)*|\/admin\/v1(\/[a-z0-9._:-]+)*)$/);
  });

  it('carries no tenant label on histograms, and the process and event-loop defaults', () => {
    const histogram = text.split('\n').filter((l) => l.startsWith('gatehouse_http_request_duration_seconds'));
    expect(histogram.length).toBeGreaterThan(0);
    expect(histogram.some((l) => l.includes('tenant='))).toBe(false);
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
  });
});

describe('METRICS_ALLOW', () => {
  it('is one clear line when a value is not a CIDR, and defaults to loopback and the private ranges', () => {
    expect(() => loadConfig({ METRICS_ALLOW: '10.0.0.0/8,prometheus.local' })).toThrow(/^Invalid configuration: METRICS_ALLOW must be comma-separated CIDRs such as 10\.0\.0\.0\/8,fd00::\/8 \("prometheus\.local" is not one\)$/);
    expect(() => loadConfig({ METRICS_ALLOW: '10.0.0.0/33' })).toThrow(/METRICS_ALLOW/);
    expect(loadConfig({}).metricsAllow).toEqual(['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']);
    expect(loadConfig({ METRICS_ALLOW: ' 10.1.0.0/16 , 2001:db8::/32' }).metricsAllow).toEqual(['10.1.0.0/16', '2001:db8::/32']);
  });

  describe('on a server with METRICS_ALLOW=127.0.0.1/32,10.1.2.3 behind TRUST_PROXY=127.0.0.1/32', () => {
    let gh: TestGatehouse;
    beforeAll(async () => {
      gh = await startTestGatehouse({ metricsAllow: ['127.0.0.1/32', '10.1.2.3/32'], trustProxy: ['127.0.0.1/32'] });
    }, 60_000);
    afterAll(() => gh?.stop());
    const url = () => gh.url.replace('localhost', '127.0.0.1') + '/metrics';

    it('serves 127.0.0.1 and refuses 127.0.0.2 with 403', async () => {
      const allowed = await fetchFrom('127.0.0.1')(url());
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toContain('# TYPE gatehouse_http_requests_total counter');
      const refused = await fetchFrom('127.0.0.2')(url());
      expect(refused.status).toBe(403);
      expect(await refused.text()).not.toContain('gatehouse_');
    });

    it('decides by the client address TRUST_PROXY yields, not by the peer nor by a header from an untrusted peer', async () => {
      // Through the trusted proxy 127.0.0.1: the client it names decides.
      expect((await fetchFrom('127.0.0.1', { 'x-forwarded-for': '203.0.113.9' })(url())).status).toBe(403);
      expect((await fetchFrom('127.0.0.1', { 'x-forwarded-for': '10.1.2.3' })(url())).status).toBe(200);
      // 127.0.0.2 is no proxy: its X-Forwarded-For is ignored.
      expect((await fetchFrom('127.0.0.2', { 'x-forwarded-for': '127.0.0.1' })(url())).status).toBe(403);
    });
  });

  it('lets any loopback address read by default', async () => {
    const gh = await startTestGatehouse();
    try {
      expect((await fetchFrom('127.0.0.2')(gh.url.replace('localhost', '127.0.0.1') + '/metrics')).status).toBe(200);
    } finally {
      await gh.stop();
    }
  }, 60_000);
});
