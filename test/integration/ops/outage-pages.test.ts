import { jest } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Tenant } from '../../../src/domain/tenants/tenants.types.js';
import { Browser, csrfOf } from '../../support/browser.js';
import { logLines, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { freePort, PrivateRedis } from '../../support/outages.js';
import { hasRedisServer } from '../../support/redis-cluster.js';
import { KV_COMMAND_DEADLINE_MS } from '../../../src/kv/unavailable.js';

// What a browser in the middle of a sign-in sees while Redis (where the sign-in lives) is down:
// the retry page with a 503, whatever it accepts, never "this sign-in has expired", and sign-ins
// work again once Redis is back. And
// a client that resets its connection mid-request leaves one JSON log line, not a stack.
const describeIfRedis = hasRedisServer() ? describe : describe.skip;

let gh: TestGatehouse;
let redis: PrivateRedis;
let tenant: Tenant;
let client: { clientId: string; redirectUri: string };
let user: { email: string; password: string };

beforeAll(async () => {
  if (!hasRedisServer()) return;
  redis = new PrivateRedis(await freePort());
  await redis.start();
  gh = await startTestGatehouse({ redisUrl: redis.url });
  tenant = await gh.tenant();
  client = await gh.client(tenant);
  user = await gh.user(tenant);
}, 60_000);
afterAll(async () => {
  await gh?.stop();
  await redis?.stop();
});

async function loginPage() {
  const browser = new Browser();
  const verifier = randomBytes(32).toString('base64url');
  const q = new URLSearchParams({
    client_id: client.clientId, redirect_uri: client.redirectUri, response_type: 'code', scope: 'openid', state: 's',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  });
  const page = await browser.follow(`${gh.url}/t/${tenant.slug}/auth?${q}`, gh.url);
  if (page.res.status !== 200) throw new Error(`${page.url}: ${page.res.status} ${(await page.res.text()).slice(0, 600)}`);
  return { browser, url: page.url, csrf: csrfOf(await page.res.text()) };
}

async function readyAgain() {
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`${gh.url}/readyz`)).status === 200) return;
    await sleep(200);
  }
  throw new Error('not ready again');
}

describeIfRedis('the sign-in pages while Redis is down', () => {
  it('answer the retry page with a 503 (not "sign-in expired", not JSON), and sign-ins work again once it is back', async () => {
    const { browser, url, csrf } = await loginPage();
    await redis.stop();
    try {
      const shown = await browser.get(url);
      expect(shown.status).toBe(503);
      expect(shown.headers.get('content-type')).toMatch(/^text\/html/);
      expect(shown.headers.get('retry-after')).toMatch(/^\d+$/);
      const posted = await browser.post(`${url}/login`, { csrf, email: user.email, password: user.password });
      expect(posted.status).toBe(503);
      expect(posted.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await posted.text()).not.toMatch(/expired/i);
      // A client that asks for JSON alone gets JSON.
      const json = await fetch(url, { headers: { accept: 'application/json', cookie: browser.jar.header() } });
      expect(json.status).toBe(503);
      expect(await json.json()).toMatchObject({ error: 'temporarily_unavailable' });
    } finally {
      await redis.start();
    }
    await readyAgain();
    // This Redis keeps nothing on disk, so that sign-in is gone with it; a new one goes through.
    const again = await loginPage();
    const posted = await again.browser.post(`${again.url}/login`, { csrf: again.csrf, email: user.email, password: user.password });
    expect(posted.status).toBe(303);
  }, 60_000);
});

describeIfRedis('while Redis answers nothing (a frozen server: connections open, no reply)', () => {
  it('a sign-in page answers the retry page within the command deadline, not never, and recovers once it answers', async () => {
    const { browser, url, csrf } = await loginPage();
    redis.freeze();
    let shown: Response;
    let next: Response;
    const started = Date.now();
    let nextMs: number;
    try {
      shown = await browser.get(url);
      // The unanswered connection was dropped: the next request does not wait the deadline again.
      const again = Date.now();
      next = await browser.get(url);
      nextMs = Date.now() - again;
    } finally {
      redis.thaw();
    }
    const ms = Date.now() - started - nextMs;
    expect(next.status).toBe(503);
    expect(nextMs).toBeLessThan(KV_COMMAND_DEADLINE_MS - 500);
    expect(shown.status).toBe(503);
    expect(shown.headers.get('content-type')).toMatch(/^text\/html/);
    expect(ms).toBeGreaterThanOrEqual(KV_COMMAND_DEADLINE_MS - 100);
    expect(ms).toBeLessThan(KV_COMMAND_DEADLINE_MS + 4000);
    // Answers that arrive late are dropped; the same sign-in goes on.
    await readyAgain();
    expect((await browser.get(url)).status).toBe(200);
    expect((await browser.post(`${url}/login`, { csrf, email: user.email, password: user.password })).status).toBe(303);
  }, 60_000);

  it('a token request answers 503 within one deadline: the rate limit it checks first gives up, then its own commands fail at once', async () => {
    const machine = await gh.client(tenant, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [], response_types: [] });
    const grant = () => fetch(`${gh.url}/t/${tenant.slug}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${machine.clientId}:${machine.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect((await grant()).status).toBe(200); // an opaque access token, kept in Redis
    // Past the second in which a node trusts its last "no failures" answer for this client and
    // address (security/rate-limit.ts): the next grant asks Redis first.
    await sleep(1500);
    redis.freeze();
    let answer: Response;
    const started = Date.now();
    try {
      answer = await grant();
    } finally {
      redis.thaw();
    }
    const ms = Date.now() - started;
    expect(answer.status).toBe(503);
    expect(await answer.json()).toMatchObject({ error: 'temporarily_unavailable' });
    // The limiter waited one deadline (and failed open); the token's save did not wait a second one.
    expect(ms).toBeGreaterThanOrEqual(KV_COMMAND_DEADLINE_MS - 100);
    expect(ms).toBeLessThan(2 * KV_COMMAND_DEADLINE_MS - 500);
    await readyAgain();
    expect((await grant()).status).toBe(200);
  }, 60_000);
});

describeIfRedis('a client that resets its connection mid-request', () => {
  it.each([
    ['token', true],
    ['interaction/abc', false], // answered (an unknown sign-in) before its body is read
  ])('leaves no stack and nothing on stderr on /t/:slug/%s (a JSON line at info where the body was being read: %s)', async (path, readsBody) => {
    const printed: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    const errors = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' ')));
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      printed.push(String(chunk));
      return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
    const before = logLines.length;
    try {
      const port = Number(new URL(gh.url).port);
      const socket = net.connect(port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(`POST /t/${tenant.slug}/${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=client_cred`);
      await sleep(200);
      socket.resetAndDestroy();
      await sleep(500);
    } finally {
      process.stderr.write = original;
      errors.mockRestore();
    }
    expect(printed.join('\n')).not.toMatch(/ECONNRESET|at TCP|Error: /);
    const lines = logLines.slice(before).map((l) => JSON.parse(l) as { message?: string; level?: string; stack?: unknown; error?: { stack?: unknown } });
    expect(lines.every((l) => l.stack === undefined && l.error?.stack === undefined)).toBe(true);
    const aborted = lines.filter((l) => l.message === 'request.aborted');
    if (readsBody) expect(aborted.length).toBeGreaterThanOrEqual(1);
    expect(aborted.every((l) => l.level === 'info')).toBe(true);
  });
});
