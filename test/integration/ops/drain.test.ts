import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, PrivateRedis } from '../../support/outages.js';
import { PrivatePostgres } from '../../support/private-postgres.js';
import { until } from '../../support/until.js';

// DESIGN.md "Operations": /readyz (Postgres and Redis reachable, the master key checked, not
// draining) answers within 1 s, 503 when any is not; SIGTERM: /readyz turns 503 at once,
// in-flight requests finish, the process exits within 25 s. The compiled server (npm start) runs
// as a process of its own on a PostgreSQL and a Redis of this test, which it freezes (SIGSTOP: the
// connection is there and nothing answers, the fault that hangs a check without a time limit).
let redis: PrivateRedis;
let pg: PrivatePostgres;
let server: ChildProcess;
let base: string;
let dataDir: string;
let stderr = '';
const ADMIN_ID = 'drain-admin';
const ADMIN_SECRET = randomBytes(32).toString('base64url');
const MASTER_KEY = randomBytes(32).toString('base64');

interface Answer { status: number; body: any; ms: number; connection?: string }
function get(url: string, options: http.RequestOptions = {}): Promise<Answer & { socket: import('node:net').Socket }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, ...options }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined, ms: performance.now() - started, connection: res.headers.connection, socket: req.socket! }));
    });
    req.on('error', reject);
  });
}
const readyz = () => get(`${base}/readyz`);

function token(): Promise<Answer> {
  const started = performance.now();
  const body = new URLSearchParams({ grant_type: 'client_credentials', resource: `${base}/admin` }).toString();
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/t/system/token`, {
      method: 'POST', agent: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${ADMIN_ID}:${ADMIN_SECRET}`).toString('base64')}` },
    }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text), ms: performance.now() - started, connection: res.headers.connection }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function startServer(port: number) {
  base = `http://127.0.0.1:${port}`;
  stderr = '';
  server = spawn(process.execPath, ['dist/src/main.js'], {
    env: {
      PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), PUBLIC_URL: base, DATABASE_URL: pg.url, REDIS_URL: redis.url,
      GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_MASTER_KEY: MASTER_KEY, BCRYPT_COST: '4', LOG_LEVEL: 'warn',
      GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID: ADMIN_ID, GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET: ADMIN_SECRET,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  server.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<false>((resolve) => server.once('exit', () => resolve(false)));
  return Promise.race([until(async () => (await readyz()).status === 200, 90_000), exited]);
}

beforeAll(async () => {
  redis = new PrivateRedis(await freePort());
  await redis.start();
  pg = new PrivatePostgres(await freePort());
  await pg.start();
  dataDir = mkdtempSync(path.join(tmpdir(), 'gh-drain-'));
  // The build is what `npm start` runs (scripts/ensure-built.mjs rebuilds dist/ when stale).
  const build = spawn(process.execPath, ['scripts/ensure-built.mjs'], { stdio: 'ignore' });
  await new Promise((resolve) => build.once('exit', resolve));
  // A free port may be taken by another process before the server listens on it: then another port.
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await startServer(await freePort())) return;
    if (!stderr.includes('EADDRINUSE')) break;
  }
  throw new Error(`the server did not become ready: ${stderr}`);
}, 240_000);

afterAll(async () => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  await redis?.stop();
  await pg?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('readiness of the compiled server', () => {
  it('is 200 with every check, the master key included', async () => {
    const r = await readyz();
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'ready', checks: { postgres: true, kv: true, master_key: true }, draining: false });
  });

  it.each([
    ['Redis', () => redis, { kv: false, postgres: true }],
    ['PostgreSQL', () => pg, { postgres: false, kv: true, master_key: null }],
  ])('answers 503 within 1 s while %s does not answer, and 200 once it does again', async (_name, service, checks) => {
    service().freeze();
    try {
      for (let i = 0; i < 3; i++) {
        const r = await readyz();
        expect(r.status).toBe(503);
        expect(r.body.checks).toMatchObject(checks);
        expect(r.ms).toBeLessThan(1500); // the checks give up at 800 ms; a loaded machine adds some
      }
    } finally {
      service().thaw();
    }
    expect(await until(async () => (await readyz()).status === 200, 15_000)).toBe(true);
  }, 60_000);
});

describe('SIGTERM', () => {
  it('turns /readyz 503 at once, closes idle keep-alive connections, lets the request in flight finish, and exits within 25 s', async () => {
    // An idle keep-alive connection, as a load balancer's pool holds.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const idle = await get(`${base}/healthz`, { agent });
    expect(idle.connection).toBe('keep-alive');
    const idleClosed = new Promise<number>((resolve) => idle.socket.once('close', () => resolve(Date.now())));

    // A request that waits on PostgreSQL (the client is read from it on its first use) while the signal arrives.
    pg.freeze();
    const inFlight = token();
    await sleep(500);
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    const signalled = Date.now();
    server.kill('SIGTERM');

    const r = await readyz();
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ status: 'draining', draining: true });
    expect(r.connection).toBe('close');
    expect(await idleClosed - signalled).toBeLessThan(5000);

    await sleep(1000);
    pg.thaw();
    const answered = await inFlight;
    expect(answered.ms).toBeGreaterThan(1400); // it waited on the frozen database across the signal
    expect(answered.status).toBe(200);
    expect(answered.body.access_token).toEqual(expect.any(String));
    expect(answered.connection).toBe('close');

    expect(await exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(25_000);
    expect(stderr).not.toMatch(/Error|stack/i);
    agent.destroy();
  }, 60_000);
});
