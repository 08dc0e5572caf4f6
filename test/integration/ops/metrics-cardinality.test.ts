import { CLI_ACTOR } from '../../../src/deps.js';
import { registerClient } from '../../../src/domain/clients/clients.service.js';
import { createTenant } from '../../../src/domain/tenants/tenants.service.js';
import { clientValidator } from '../../../src/tenancy/validate-client.js';
import { clientCredentialsToken } from '../../support/admin.js';
import { Browser, csrfOf } from '../../support/browser.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

// DESIGN.md "Operations": series stay bounded however many tenants there are. The HTTP series
// carry route templates, so 1,000 active tenants add none; only the tenant-labelled counters
// (logins: outcomes × tenants, tokens: grant types × tenants) grow, linearly (docs/metrics.md).
const TENANTS = Number(process.env.METRICS_TEST_TENANTS ?? 1000); // fewer only to try the test out
const FIRST = 20;
const PARALLEL = 8;

let gh: TestGatehouse;
const tenants: { slug: string; clientId: string; clientSecret: string }[] = [];

beforeAll(async () => {
  const started = Date.now();
  gh = await startTestGatehouse();
  // Through the service layer (one HTTP call each would only be slower), a few at a time; ES256 keys are quick to make.
  await parallel(Array.from({ length: TENANTS }, (_, i) => i), async (i) => {
    const tenant = await createTenant(gh.deps, { slug: `card-${i}`, name: `Tenant ${i}`, alg: 'ES256' }, CLI_ACTOR);
    const { client, secret } = await registerClient(gh.deps, tenant, {
      metadata: { client_name: 'App', redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: ['authorization_code', 'client_credentials'], admin_access: true },
      roles: ['tenant-admin'],
    }, CLI_ACTOR, clientValidator(gh.registry));
    tenants[i] = { slug: tenant.slug, clientId: client.clientId, clientSecret: secret! };
  });
  console.log(`${TENANTS} tenants with a client each created in ${Math.round((Date.now() - started) / 1000)} s`);
}, 1_800_000);
afterAll(() => gh?.stop());

/** One request of each kind: discovery, JWKS, an authorization request to its login page and a wrong password there, a token, the admin API, an unknown path. */
async function traffic(t: (typeof tenants)[number]) {
  const issuer = `${gh.url}/t/${t.slug}`;
  const expectStatus = async (res: Promise<Response> | Response, status: number) => {
    const r = await res;
    await r.arrayBuffer();
    if (r.status !== status) throw new Error(`${t.slug}: ${r.url} answered ${r.status}, not ${status}`);
  };
  await expectStatus(fetch(`${issuer}/.well-known/openid-configuration`), 200);
  await expectStatus(fetch(`${issuer}/jwks`), 200);
  const browser = new Browser();
  const auth = `${issuer}/auth?${new URLSearchParams({ client_id: t.clientId, redirect_uri: 'http://127.0.0.1:9/cb', response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGv-6q6xQ8', code_challenge_method: 'S256' })}`;
  const { res, url } = await browser.follow(auth, gh.url);
  const html = await res.text();
  if (!html.includes('name="password"')) throw new Error(`${t.slug}: no login page at ${url}`);
  await expectStatus(browser.post(`${url}/login`, { csrf: csrfOf(html), email: 'nobody@example.com', password: 'wrong password' }), 401);
  const token = await clientCredentialsToken(gh, t.slug, t.clientId, t.clientSecret);
  await expectStatus(fetch(`${gh.url}/admin/v1/tenants/${t.slug}/users?limit=1`, { headers: { authorization: `Bearer ${token}` } }), 200);
  await expectStatus(fetch(`${issuer}/no-such-path`), 404);
}

async function parallel<T>(list: T[], each: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < list.length) await each(list[next++]);
  }));
}

const run = (list: typeof tenants) => parallel(list, traffic);

async function scrape() {
  const text = await (await fetch(`${gh.url}/metrics`)).text();
  const series = text.split('\n').filter((l) => l && !l.startsWith('#'));
  const of = (name: string) => series.filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return {
    http: [...of('gatehouse_http_requests_total'), ...of('gatehouse_http_request_duration_seconds_bucket'), ...of('gatehouse_http_request_duration_seconds_sum'), ...of('gatehouse_http_request_duration_seconds_count')],
    logins: of('gatehouse_logins_total'),
    tokens: of('gatehouse_tokens_issued_total'),
    all: series,
    // prom-client's process and runtime metrics (nodejs_*, process_*) have label values from small
    // fixed sets that appear when first seen, whatever the tenants: a GC kind
    // (nodejs_gc_duration_seconds{kind="weakcb"}, 9 series), an active-resource type.
    runtime: series.filter((l) => /^(nodejs|process)_/.test(l)),
  };
}

const labelsOf = (lines: string[]) => lines.map((l) => l.slice(0, l.lastIndexOf(' '))).sort();

it(`keeps the HTTP series constant from ${FIRST} to ${TENANTS} active tenants; tenant counters grow by one series per tenant and outcome`, async () => {
  await scrape(); // its own series (/metrics 200) exists from here on
  await run(tenants.slice(0, FIRST));
  const before = await scrape();
  const started = Date.now();
  await run(tenants.slice(FIRST));
  console.log(`traffic on ${TENANTS - FIRST} tenants in ${Math.round((Date.now() - started) / 1000)} s`);
  const after = await scrape();

  // The same label sets, not merely as many: no tenant, id or uid ever became a label value.
  expect(labelsOf(after.http)).toEqual(labelsOf(before.http));
  expect(after.http.length).toBeLessThan(600);
  expect(after.http.filter((l) => /card-\d/.test(l))).toEqual([]);
  // Every tenant made one failed login and got one client_credentials token: one series each.
  expect(after.logins.length).toBe(TENANTS);
  expect(after.tokens.length).toBe(TENANTS);
  // Nothing else grew with the tenants; the runtime's own series stay few.
  expect((after.all.length - after.runtime.length) - (before.all.length - before.runtime.length)).toBe((TENANTS - FIRST) * 2);
  expect(after.runtime.length).toBeLessThan(300);
  console.log(`series: ${after.all.length} in all with ${TENANTS} tenants; http ${after.http.length}; logins ${after.logins.length}; tokens ${after.tokens.length}; runtime ${after.runtime.length}`);
}, 1_800_000);
