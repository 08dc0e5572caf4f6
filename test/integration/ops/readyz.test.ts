import http from 'node:http';
import { freePort, PrivateRedis } from '../../support/outages.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { until } from '../../support/until.js';

// DESIGN.md "Operations": /readyz answers within 1 s in every fault, and 503 once draining.
let redis: PrivateRedis;
let gh: TestGatehouse;
let stopped = false;
beforeAll(async () => {
  redis = new PrivateRedis(await freePort());
  await redis.start();
  gh = await startTestGatehouse({ redisUrl: redis.url });
});
afterAll(async () => {
  if (!stopped) await gh?.stop();
  await redis.stop();
});

/** On a connection of its own (agent: false): draining closes idle pooled ones, as a load balancer expects. */
async function readyz() {
  const started = performance.now();
  const res = await new Promise<{ status: number; text: string; connection?: string }>((resolve, reject) => {
    http.get(`${gh.url}/readyz`, { agent: false }, (r) => {
      let text = '';
      r.on('data', (c) => (text += c));
      r.on('end', () => resolve({ status: r.statusCode!, text, connection: r.headers.connection }));
    }).on('error', reject);
  });
  return { status: res.status, body: JSON.parse(res.text), ms: performance.now() - started, connection: res.connection };
}

describe('/readyz', () => {
  it('is 200 with every check true while Postgres, Redis and the master key are fine', async () => {
    const r = await readyz();
    expect(r.status).toBe(200);
    expect(r.body.checks).toEqual({ postgres: true, kv: true, master_key: true });
  });

  it('answers 503 within 1.5 s while Redis is stopped, pages say to retry, and 200 again once it is back', async () => {
    const tenant = await gh.tenant();
    const app = await gh.client(tenant);
    await redis.stop();
    for (let i = 0; i < 3; i++) {
      const r = await readyz();
      expect(r.ms).toBeLessThan(1500);
      expect(r.status).toBe(503);
      expect(r.body.checks).toMatchObject({ postgres: true, kv: false, master_key: true });
    }
    // An authorization request stores its interaction in Redis: oidc-provider's own error page becomes a 503 saying to retry.
    const auth = new URL(`${gh.url}/t/${tenant.slug}/auth`);
    auth.search = new URLSearchParams({ client_id: app.clientId, redirect_uri: app.redirectUri, response_type: 'code', scope: 'openid' }).toString();
    const page = await fetch(auth, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(page.status).toBe(503);
    expect(page.headers.get('retry-after')).toBe('5');
    expect(await page.text()).toContain('try again in a moment');

    await redis.start();
    expect(await until(async () => (await readyz()).status === 200, 10_000)).toBe(true);
  });

  it('turns 503 the moment the node drains, closes keep-alive connections, and close() returns promptly', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const get = (path: string) => new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${gh.url}${path}`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res));
      }).on('error', reject);
    });
    expect((await get('/healthz')).headers.connection).toBe('keep-alive');
    gh.drain();
    const r = await readyz();
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ status: 'draining', draining: true });
    expect(r.connection).toBe('close');
    // The idle keep-alive connection does not hold the server open.
    const started = Date.now();
    await gh.stop();
    expect(Date.now() - started).toBeLessThan(5000);
    stopped = true;
    agent.destroy();
  });
});
