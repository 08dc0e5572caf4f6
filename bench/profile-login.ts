/**
 * The non-bcrypt cost of a password login, for profiling (docs/BENCHMARKS.md):
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx --import ./bench/use-dist.mjs bench/profile-login.ts
 * (`--import ./bench/use-dist.mjs`: Gatehouse from dist/, as it ships; without it, through tsx).
 *
 * Runs the bench's login (authorize → login page → POST login → consent → POST confirm →
 * callback → token endpoint, bench/http-browser.ts) in a loop against Gatehouse with bcrypt cost 4,
 * so the profile shows what surrounds the password check rather than the check itself, and prints
 * the process CPU time per login. PGlite unless DATABASE_URL; in-process kv unless REDIS_URL.
 * PROFILE_WARM_UP logins (default 2,500) run before the measured ones, so the figures are of code V8
 * has compiled, as in a node in service (docs/BENCHMARKS.md, eighteenth session); 0 for a new
 * process's figures.
 * PROFILE_SECONDS (default 8), PROFILE_CONCURRENCY (default 4). PROFILE_PER_REQUEST=1 also prints
 * the server's CPU per request kind (exact only with PROFILE_CONCURRENCY=1: the process then
 * serves one request at a time).
 * PROFILE_CPU=<file> writes a CPU profile of the measured logins only (no start-up) to that file.
 * PROFILE_PROMOTED=<file>: where the objects promoted to the old generation during the measured
 * logins were allocated (bench/profile-grant.ts says how).
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { startGatehouse } from '../src/app.js';
import type { Config } from '../src/config/load.js';
import { CLI_ACTOR } from '../src/deps.js';
import { registerClient } from '../src/domain/clients/clients.service.js';
import { createUser } from '../src/domain/users/users.service.js';
import { configureLogger } from '../src/log/logger.js';
import { tuneV8ForServing } from '../src/ops/v8-tuning.js';
import { clientValidator } from '../src/tenancy/validate-client.js';
import { csrfOf } from '../test/support/browser.js';
import { freshDatabase } from '../test/support/database.js';
import { loadTestTenant, machineCpu, samplePromoted } from './harness.js';
import { HttpBrowser } from './http-browser.js';

const SECONDS = Number(process.env.PROFILE_SECONDS ?? 8);
const WARM_UP = Number(process.env.PROFILE_WARM_UP ?? 2500);
const CONCURRENCY = Number(process.env.PROFILE_CONCURRENCY ?? 4);
const REDIRECT_URI = 'http://127.0.0.1:9/bench/callback';

configureLogger({ silent: true });
tuneV8ForServing(); // as src/main.ts does
const db = await freshDatabase('gh_profile');
const probe = createServer().listen(0, '127.0.0.1');
await once(probe, 'listening');
const port = (probe.address() as { port: number }).port;
probe.close();
const config: Config = {
  production: false, port, publicUrl: `http://127.0.0.1:${port}`, publicUrlFixed: true, trustProxy: [], databaseUrl: db.url, redisUrl: process.env.REDIS_URL || undefined,
  dataDir: db.dataDir!, masterKey: randomBytes(32).toString('base64'), bootstrap: {}, bcryptCost: Number(process.env.PROFILE_COST ?? 4), logLevel: 'error',
  outboundAllow: [],
};
const gh = await startGatehouse(config, { kvPrefix: `ghprofile:${randomBytes(4).toString('hex')}:` });
try {
  const tenant = await loadTestTenant(gh, 'profile');
  const web = await registerClient(gh.deps, tenant, { metadata: { redirect_uris: [REDIRECT_URI] } }, CLI_ACTOR, clientValidator(gh.registry));
  const users = [];
  for (let i = 0; i < CONCURRENCY; i++) {
    const password = randomBytes(12).toString('base64url');
    await createUser(gh.deps, tenant, { email: `p${i}@example.com`, password, name: 'P' }, CLI_ACTOR);
    users.push({ email: `p${i}@example.com`, password });
  }
  const issuer = `${gh.url}/t/${tenant.slug}`;
  const origin = new URL(issuer).origin;
  const basic = `Basic ${Buffer.from(`${web.client.clientId}:${web.secret}`).toString('base64')}`;
  let queries = 0;
  gh.deps.db.on('query', () => queries++);
  const perRequest = new Map<string, { n: number; us: number; sql: number }>();
  let sqlMs = 0;
  if (process.env.PROFILE_PER_REQUEST) {
    const started = new Map<string, number>();
    gh.deps.db.on('query', (q: { __knexQueryUid: string }) => started.set(q.__knexQueryUid, performance.now()));
    gh.deps.db.on('query-response', (_r: unknown, q: { __knexQueryUid: string }) => {
      sqlMs += performance.now() - (started.get(q.__knexQueryUid) ?? performance.now());
      started.delete(q.__knexQueryUid);
    });
    gh.server.prependListener('request', (req, res) => {
      const start = process.cpuUsage();
      const sql0 = sqlMs;
      const kind = `${req.method} ${req.url!.split('?')[0].replace(/\/t\/[^/]+/, '').replace(/\/[A-Za-z0-9_-]{20,}/g, '/:uid')}`;
      res.once('finish', () => {
        const used = process.cpuUsage(start);
        const entry = perRequest.get(kind) ?? { n: 0, us: 0, sql: 0 };
        entry.n++;
        entry.us += used.user + used.system;
        entry.sql += sqlMs - sql0;
        perRequest.set(kind, entry);
      });
    });
  }

  async function login(user: { email: string; password: string }) {
    const b = new HttpBrowser();
    const verifier = randomBytes(32).toString('base64url');
    const q = new URLSearchParams({ client_id: web.client.clientId, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid profile email offline_access', prompt: 'consent', state: 'x', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' });
    const page = await b.follow(`${issuer}/auth?${q}`, origin);
    const posted = await b.post(`${page.url}/login`, { csrf: csrfOf(page.res.text()), email: user.email, password: user.password });
    const consent = await b.follow(new URL(posted.location!, origin).toString(), origin);
    const confirmed = await b.post(`${consent.url}/confirm`, { csrf: csrfOf(consent.res.text()), decision: 'allow' });
    const done = await b.follow(new URL(confirmed.location!, origin).toString(), origin);
    const code = new URL(done.url).searchParams.get('code');
    const answer = await new HttpBrowser().post(`${issuer}/token`, { grant_type: 'authorization_code', code: code!, redirect_uri: REDIRECT_URI, code_verifier: verifier }, basic);
    if (answer.status !== 200 || !JSON.parse(answer.text()).id_token) throw new Error(`token: ${answer.status} ${answer.text()}`);
  }

  await login(users[0]);
  const q0 = queries;
  await login(users[0]);
  console.log(`queries per login (warm): ${queries - q0}`);
  let warmedUp = 0;
  await Promise.all(users.map(async (u) => {
    while (warmedUp++ < WARM_UP) await login(u);
  }));
  await gh.deps.db.raw('analyze'); // statistics, as a database in service has them (bench/run.ts)
  // Started before the clocks: its own start is not counted in the figures (its sampling is).
  const heap = process.env.PROFILE_PROMOTED ? await samplePromoted() : undefined;
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  const cpu0 = process.cpuUsage();
  const machine0 = machineCpu().busyMs;
  const elu0 = performance.eventLoopUtilization();
  const profiler = process.env.PROFILE_CPU ? new (await import('node:inspector/promises')).Session() : undefined;
  const promiseSites = new Map<string, number>();
  let promises = 0;
  const promiseHook = process.env.PROFILE_PROMISES ? (await import('node:async_hooks')).createHook({
    init(_id, type) {
      if (type !== 'PROMISE') return;
      if (++promises % 50 !== 0) return;
      const frames = (new Error().stack ?? '').split('\n').slice(2).map((l) => l.trim()).filter((l) => !l.includes('node:internal') && !l.includes('<anonymous>'));
      const site = (frames[0] ?? '?').replace(/^at /, '').replace(/\(?file:\/\/\/work\/main\//, '(').slice(0, 140);
      promiseSites.set(site, (promiseSites.get(site) ?? 0) + 50);
    },
  }).enable() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  await Promise.all(users.map(async (u) => {
    while (performance.now() < end) {
      await login(u);
      done++;
    }
  }));
  const cpu = process.cpuUsage(cpu0);
  if (promiseHook) {
    promiseHook.disable();
    console.log(`promises per login: ${(promises / done).toFixed(0)}`);
    for (const [site, n] of [...promiseSites].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${(n / done).toFixed(1).padStart(8)} ${site}`);
  }
  if (heap) (await import('node:fs')).writeFileSync(process.env.PROFILE_PROMOTED!, JSON.stringify(await heap.stop()));
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    (await import('node:fs')).writeFileSync(process.env.PROFILE_CPU!, JSON.stringify(profile));
    profiler.disconnect();
  }
  const machineMs = machineCpu().busyMs - machine0;
  const elu = performance.eventLoopUtilization(elu0);
  for (const [kind, { n, us, sql }] of perRequest) console.log(`${kind.padEnd(40)} ${(us / n / 1000).toFixed(2)} ms CPU, ${(sql / n).toFixed(2)} ms in queries (${n})`);
  console.log(`${done} logins in ${SECONDS} s: ${(done / SECONDS).toFixed(1)}/s; CPU ${((cpu.user + cpu.system) / 1000 / done).toFixed(2)} ms per login (bcrypt cost 4, load generator included); main thread ${(elu.active / done).toFixed(2)} ms per login; whole machine (PostgreSQL and Redis included) ${(machineMs / done).toFixed(2)} ms per login`);
} finally {
  gh.server.closeAllConnections?.();
  await gh.close();
  await db.drop();
}
