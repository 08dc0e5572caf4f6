import http from 'node:http';
import { startGatehouse, type Gatehouse } from '../../../src/app.js';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { systemAdminApi, type ApiAnswer } from '../../support/admin.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

let gh: TestGatehouse;
let api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
let tenant: Tenant;

beforeAll(async () => {
  gh = await startTestGatehouse();
  api = await systemAdminApi(gh);
  tenant = await gh.tenant();
  await setLimit(3);
});
afterAll(() => gh.stop());

async function setLimit(limit: number) {
  const res = await api('PATCH', `/tenants/${tenant.slug}`, { rate_limits: { client_auth_failures: { limit } } });
  expect(res.body.rate_limits.client_auth_failures).toEqual({ limit, window_seconds: 60 });
}

const machine = () => gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] });
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: any }

/** A form POST from a chosen loopback address (Linux routes all of 127/8 to the loopback interface). */
function post(from: string, path: string, form: Record<string, string>, authorization?: string, base = gh.url): Promise<Answer> {
  const url = new URL(`${base}/t/${tenant.slug}${path}`);
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: url.port, path: url.pathname, method: 'POST', localAddress: from, agent: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), ...(authorization ? { authorization } : {}) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const token = (from: string, id: string, secret: string, base?: string) => post(from, '/token', { grant_type: 'client_credentials' }, basic(id, secret), base);

function expectThrottled(res: Answer) {
  expect(res.status).toBe(429);
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
  expect(res.headers['content-type']).toContain('application/json');
  expect(res.body).toEqual({ error: 'invalid_client', error_description: 'too many failed client authentications; retry later' });
}

describe('failed client authentications (rate_limits.client_auth_failures)', () => {
  it('refuses an address after N failures with 429, Retry-After and an OAuth error, while the client elsewhere still gets tokens', async () => {
    const app = await machine();
    for (let i = 0; i < 3; i++) {
      const wrong = await token('127.0.0.2', app.clientId, 'not-the-secret');
      expect(wrong.status).toBe(401);
      expect(wrong.body.error).toBe('invalid_client');
    }
    // From the guessing address even the right secret is refused, on every endpoint that authenticates the client.
    expectThrottled(await token('127.0.0.2', app.clientId, app.clientSecret!));
    expectThrottled(await post('127.0.0.2', '/token/introspection', { token: 'x' }, basic(app.clientId, app.clientSecret!)));
    // The client itself, from its own address, is not locked out.
    const elsewhere = await token('127.0.0.3', app.clientId, app.clientSecret!);
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.body.access_token).toEqual(expect.any(String));
  });

  it('never refuses a correct request under the limit, and successes do not count', async () => {
    const app = await machine();
    for (let i = 0; i < 2; i++) expect((await token('127.0.0.4', app.clientId, 'wrong')).status).toBe(401);
    for (let i = 0; i < 6; i++) expect((await token('127.0.0.4', app.clientId, app.clientSecret!)).status).toBe(200);
  });

  it('counts failures per client, found in the body as well as the Authorization header', async () => {
    const app = await machine();
    const other = await machine();
    for (let i = 0; i < 3; i++) {
      expect((await post('127.0.0.5', '/token/revocation', { token: 'x', client_id: app.clientId, client_secret: 'wrong' })).status).toBe(401);
    }
    expectThrottled(await token('127.0.0.5', app.clientId, app.clientSecret!));
    expect((await token('127.0.0.5', other.clientId, other.clientSecret!)).status).toBe(200);
  });

  it('follows a settings change on the next request, and limit 0 turns the limit off', async () => {
    const app = await machine();
    for (let i = 0; i < 3; i++) await token('127.0.0.6', app.clientId, 'wrong');
    expectThrottled(await token('127.0.0.6', app.clientId, app.clientSecret!));
    await setLimit(10);
    expect((await token('127.0.0.6', app.clientId, app.clientSecret!)).status).toBe(200);
    await setLimit(0);
    for (let i = 0; i < 12; i++) expect((await token('127.0.0.6', app.clientId, 'wrong')).status).toBe(401);
    expect((await token('127.0.0.6', app.clientId, app.clientSecret!)).status).toBe(200);
    await setLimit(3);
  });

  // Another node on the same PostgreSQL and Redis (and key prefix) sees the same counts.
  const shared = process.env.DATABASE_URL && process.env.REDIS_URL ? it : it.skip;
  shared('holds on every node when the kv store is Redis', async () => {
    const nodeB: Gatehouse = await startGatehouse({ ...gh.config, port: 0, publicUrl: '', publicUrlFixed: false }, { kvPrefix: gh.deps.kvPrefix });
    try {
      const app = await machine();
      for (let i = 0; i < 3; i++) expect((await token('127.0.0.7', app.clientId, 'wrong')).status).toBe(401);
      expectThrottled(await token('127.0.0.7', app.clientId, app.clientSecret!, nodeB.url));
    } finally {
      nodeB.server.closeAllConnections?.();
      await nodeB.close();
    }
  });
});
