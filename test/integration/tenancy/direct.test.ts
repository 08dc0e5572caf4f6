import http from 'node:http';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

// tenancy/direct.ts: a protocol request of a tenant the node keeps built goes to its provider
// without Gatehouse's Koa chain; the first request of a tenant (not built yet) goes through the
// chain. Both ways must answer alike: headers, request id, log line, metrics, drain.

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: string }

// Keep-alive, as a client in service: a drained node's `Connection: close` is its own, not an echo.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(url: string, headers: Record<string, string> = {}, through = agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: through, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

function requestCount(text: string, route: string, status: string) {
  const series = `gatehouse_http_requests_total{route="${route}",method="GET",status="${status}"} `;
  const line = text.split('\n').find((l) => l.startsWith(series));
  return line === undefined ? 0 : Number(line.slice(series.length));
}

describe('protocol requests of a built tenant, past the Koa chain', () => {
  let gh: TestGatehouse;
  let tenant: Tenant;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    tenant = await gh.tenant();
  });
  afterAll(async () => {
    agent.destroy();
    await gh.stop();
  });

  const discovery = () => `${gh.url}/t/${tenant.slug}/.well-known/openid-configuration`;

  test('the first request (through the chain) and the next ones (past it) answer alike', async () => {
    expect(gh.registry.built(tenant.slug)).toBeUndefined();
    const first = await get(discovery(), { 'x-request-id': 'direct-test-first-0001' });
    expect(gh.registry.built(tenant.slug)).toBeDefined();
    const second = await get(`${discovery()}?probe=1`, { 'x-request-id': 'direct-test-second-0002' });
    const third = await get(discovery()); // no id of its own: one is made
    for (const answer of [first, second, third]) {
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).issuer).toBe(`${gh.url}/t/${tenant.slug}`);
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect(answer.headers['x-frame-options']).toBe('DENY');
      expect(answer.headers['referrer-policy']).toBe('no-referrer');
      expect(answer.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    }
    expect(second.body).toBe(first.body);
    expect(first.headers['x-request-id']).toBe('direct-test-first-0001');
    expect(second.headers['x-request-id']).toBe('direct-test-second-0002');
    expect(third.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    // One `request.completed` line each, with the path as the client sent it (no query).
    const completed = logLines.map((l) => JSON.parse(l)).filter((l) => l.message === 'request.completed' && [first, second, third].some((a) => a.headers['x-request-id'] === l.request_id));
    expect(completed).toHaveLength(3);
    for (const line of completed) expect(line).toMatchObject({ method: 'GET', path: `/t/${tenant.slug}/.well-known/openid-configuration`, status: 200 });
    const metrics = await (await fetch(`${gh.url}/metrics`)).text();
    expect(requestCount(metrics, '/t/:tenant/.well-known/openid-configuration', '200')).toBe(3);
  });

  test('a path under the issuer that the provider does not serve: its 404, counted as unmatched', async () => {
    await get(discovery()); // built
    const before = requestCount(await (await fetch(`${gh.url}/metrics`)).text(), 'unmatched', '404');
    const answer = await get(`${gh.url}/t/${tenant.slug}/jwks/no-such-thing`);
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toEqual({ error: 'not_found', error_description: 'There is nothing at this address.' });
    expect(answer.headers['x-request-id']).toBeDefined();
    expect(requestCount(await (await fetch(`${gh.url}/metrics`)).text(), 'unmatched', '404')).toBe(before + 1);
  });

  test('an unknown tenant and a page still go through the chain', async () => {
    const unknown = await get(`${gh.url}/t/no-such-tenant-here/.well-known/openid-configuration`);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).error).toBe('not_found');
    expect(gh.registry.built('no-such-tenant-here')).toBeUndefined();
  });

  test('a provider handler that fails (its own error handling failing) answers 500 with the request id, and the node serves on', async () => {
    await get(discovery()); // built
    const entry = gh.registry.built(tenant.slug)!;
    const handle = entry.handle;
    try {
      for (const broken of [() => Promise.reject(new Error('handler failed')), () => { throw new Error('handler threw'); }]) {
        entry.handle = broken as typeof handle;
        const answer = await get(discovery(), { 'x-request-id': 'direct-test-failed-0003' });
        expect(answer.status).toBe(500);
        expect(JSON.parse(answer.body)).toEqual({ error: 'server_error', error_description: 'An unexpected error occurred.', request_id: 'direct-test-failed-0003' });
        expect(answer.body).not.toContain('handler');
      }
    } finally {
      entry.handle = handle;
    }
    const failed = logLines.map((l) => JSON.parse(l)).filter((l) => l.message === 'request.failed' && l.request_id === 'direct-test-failed-0003');
    expect(failed.map((l) => l.error.message)).toEqual(['handler failed', 'handler threw']);
    expect((await get(discovery())).status).toBe(200);
  });

  test('once draining, a request past the chain is told to close its connection', async () => {
    await get(discovery()); // built
    const before = await get(discovery());
    expect(before.headers.connection).toBe('keep-alive');
    gh.drain(); // closes the idle connection above
    const fresh = new http.Agent({ keepAlive: true });
    const after = await get(discovery(), {}, fresh);
    fresh.destroy();
    expect(after.status).toBe(200);
    expect(after.headers.connection).toBe('close');
  });
});
