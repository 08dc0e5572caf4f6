/**
 * What the bench modes share (bench/run.ts, scale.ts, soak.ts): settings from the environment,
 * the measuring loop, loopback HTTP helpers, a Gatehouse started for a bench, its clients and
 * users, and the bare oidc-provider it is compared with.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import bcrypt from 'bcrypt';
import * as jose from 'jose';
import Provider, { errors, type Configuration } from 'oidc-provider';
import { startGatehouse, type Gatehouse } from '../src/app.js';
import type { Config } from '../src/config/load.js';
import { CLI_ACTOR } from '../src/deps.js';
import { registerClient } from '../src/domain/clients/clients.service.js';
import { insertRole } from '../src/domain/rbac/rbac.queries.js';
import { beginTotpEnrollment } from '../src/domain/mfa/mfa.service.js';
import { changeTenantSettings, createTenant } from '../src/domain/tenants/tenants.service.js';
import type { Tenant } from '../src/domain/tenants/tenants.types.js';
import { createUser } from '../src/domain/users/users.service.js';
import { configureLogger } from '../src/log/logger.js';
import { EXTERNAL_SIGNING, NativeSigningKey } from '../src/provider/signing-key.js';
import { clientValidator } from '../src/tenancy/validate-client.js';
import { freshDatabase } from '../test/support/database.js';
import { csrfOf } from '../test/support/browser.js';
import { rfc6238 } from '../test/support/totp.js';
import { basicAuth } from '../test/support/admin.js';
export { basicAuth };
export { watchGC } from '../test/support/gc.js';
import { benchAgent, HttpBrowser } from './http-browser.js';

export const WARMUP_SECONDS = 1;
/** Hard bounds on every measuring loop, besides its deadline. */
const MAX_OPS_PER_PHASE = 1_000_000;
const MAX_FAILURES_PER_PHASE = 50;

/** A resource indicator: an identifier only, never contacted. */
export const API = 'https://api.bench.invalid/orders';
export const API_SCOPE = 'read:orders';
/** The web client's callback. Logins stop at the redirect to it; nothing listens there. */
export const REDIRECT_URI = 'http://127.0.0.1:9/bench/callback';
const LOGIN_SCOPE = 'openid profile email offline_access';

export function setting(name: string, fallback: number, min: number, max: number, integer = false) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new Error(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Measuring

export interface PhaseResult {
  label: string;
  /** Operations that completed inside the measuring window. */
  ok: number;
  failed: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  /** CPU time this process used in the window, in cores (user + system, all threads). */
  cores: number;
  /** Share of the window the main thread's event loop was busy (0..1). */
  loopBusy: number;
  /**
   * CPU time the whole machine used in the window, in cores (Linux `/proc/stat`; NaN elsewhere):
   * beyond `cores`, this counts the local PostgreSQL and Redis serving the operations.
   */
  machineCores: number;
  /** Database queries one operation made (counted on the smoke call), when known. */
  queries?: number;
  firstError?: string;
  /** Latencies of the counted operations, sorted (ms). */
  samples: number[];
}

/**
 * Runs `op` from `concurrency` workers continuously for WARMUP_SECONDS + `seconds`, and counts
 * what completes in the last `seconds` only: the window sees the steady state, with neither the
 * ramp-up nor the drain at the end (which would cost long operations like logins the most).
 */
export async function runPhase(label: string, seconds: number, concurrency: number, op: (worker: number) => Promise<void>, warmupSeconds = WARMUP_SECONDS, allowEmpty = false): Promise<PhaseResult> {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let issued = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const windowStart = started + warmupSeconds * 1000;
  const windowEnd = windowStart + seconds * 1000;
  const inWindow = (t: number) => t >= windowStart && t < windowEnd;

  // CPU time at the window's edges (a timer can fire a little late; its own clock reading is used).
  const sample = () => ({ at: performance.now(), usage: process.cpuUsage(), elu: performance.eventLoopUtilization(), machine: machineCpu() });
  let cpuStart = sample();
  let cpuEnd: ReturnType<typeof sample> | undefined;
  const edgeA = setTimeout(() => (cpuStart = sample()), windowStart - performance.now());
  const edgeB = setTimeout(() => (cpuEnd = sample()), windowEnd - performance.now());

  async function worker(id: number) {
    while (performance.now() < windowEnd && issued < MAX_OPS_PER_PHASE && failed < MAX_FAILURES_PER_PHASE) {
      issued++;
      const t0 = performance.now();
      try {
        await op(id);
        const t1 = performance.now();
        if (inWindow(t1)) {
          latencies.push(t1 - t0);
          ok++;
        }
      } catch (err) {
        failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  }

  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  clearTimeout(edgeA);
  clearTimeout(edgeB);
  // The last operations can all end in the event loop's turn before the one that runs the timer:
  // the window's end is then now, just after it (not the start, which gave a negative CPU time).
  cpuEnd ??= sample();
  if (ok === 0 && !allowEmpty) throw new Error(`${label}: nothing completed in the measuring window (${failed} failed: ${firstError ?? 'none'})`);
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  const cpuMicros = cpuEnd.usage.user - cpuStart.usage.user + (cpuEnd.usage.system - cpuStart.usage.system);
  const cores = cpuMicros / 1000 / Math.max(1, cpuEnd.at - cpuStart.at);
  const loopBusy = performance.eventLoopUtilization(cpuEnd.elu, cpuStart.elu).utilization;
  const machineCores = (cpuEnd.machine.busyMs - cpuStart.machine.busyMs) / Math.max(1, cpuEnd.at - cpuStart.at);
  return { label, ok, failed, seconds, perSecond: ok / seconds, p50: pick(0.5), p95: pick(0.95), p99: pick(0.99), cores, loopBusy, machineCores, firstError, samples: latencies };
}

/** CPU time all cores of the machine spent busy since boot (ms; not idle, not waiting on I/O). */
export function machineCpu(): { busyMs: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const [, , , idle, iowait] = fields;
    // Clock ticks, 100 per second on Linux (USER_HZ).
    return { busyMs: (fields.slice(0, 8).reduce((a, b) => a + b, 0) - idle - iowait) * 10 };
  } catch {
    return { busyMs: NaN };
  }
}

/**
 * Starts V8's sampling heap profiler keeping what outlived a minor GC: samples of objects a major
 * GC collected stay in the profile, those a minor GC collected leave it. `stop()` returns the
 * profile (a .heapprofile for Chrome's DevTools): where the promoted objects were allocated, with
 * what was still alive at `stop()` (young objects too: a few requests' worth, in flight).
 */
export async function samplePromoted() {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  // Both flags are in the DevTools protocol (and V8's), not yet in @types/node.
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false } as { samplingInterval: number });
  return {
    async stop() {
      const { profile } = await session.post('HeapProfiler.getSamplingProfile');
      await session.post('HeapProfiler.stopSampling');
      session.disconnect();
      return profile;
    },
  };
}

/**
 * Latency at a fixed arrival rate (open loop): one POST is sent every 1/rate seconds whatever the
 * previous ones are doing, and each latency counts from when it was due, not from when it could
 * start, so a stall shows in the figures instead of slowing the load (no coordinated omission).
 * WARMUP_SECONDS first, then `seconds` measured. The requests go out from a thread of its own
 * (bench/fixed-rate-worker.mjs), as an outside client's would: its event loop and its heap
 * (garbage, collections) are not the server's, so the latencies and `watchGC` are the server's
 * alone. `cores` counts the whole process, the load thread included; `loopBusy` is the server's
 * (main) thread.
 */
export async function fixedRateFromThread(label: string, seconds: number, rate: number, post: { url: URL; headers: Record<string, string>; body: string; expectFields: Record<string, string> }): Promise<PhaseResult> {
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(new URL('./fixed-rate-worker.mjs', import.meta.url), {
    workerData: {
      url: post.url.href, headers: post.headers, body: post.body, rate, seconds, warmUpSeconds: WARMUP_SECONDS, maxSockets: 256,
      expect: { status: 200, fields: post.expectFields }, maxFailures: MAX_FAILURES_PER_PHASE,
    },
  });
  let measuredFrom: Usage | undefined;
  let end: Usage | undefined;
  const done = await new Promise<{ latencies: number[]; failed: number; firstError?: string }>((resolve, reject) => {
    worker.on('message', (m: { kind: string; latencies: number[]; failed: number; firstError?: string }) => {
      if (m.kind === 'window-start') measuredFrom = usage();
      else if (m.kind === 'window-end') end = usage();
      else if (m.kind === 'done') resolve(m);
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`the load thread ended (exit code ${code}) before its report`)));
  });
  await worker.terminate();
  end ??= usage();
  return fixedRateResult(label, seconds, done.latencies, done.failed, done.firstError, measuredFrom ?? end, end);
}

type Usage = { at: number; usage: NodeJS.CpuUsage; elu: ReturnType<typeof performance.eventLoopUtilization>; machine: { busyMs: number } };

function usage(): Usage {
  return { at: performance.now(), usage: process.cpuUsage(), elu: performance.eventLoopUtilization(), machine: machineCpu() };
}

function fixedRateResult(label: string, seconds: number, latencies: number[], failed: number, firstError: string | undefined, from: Usage, end: Usage): PhaseResult {
  const ok = latencies.length;
  if (ok === 0) throw new Error(`${label}: nothing completed (${failed} failed: ${firstError ?? 'none'})`);
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  const cpuMicros = end.usage.user - from.usage.user + (end.usage.system - from.usage.system);
  const cores = cpuMicros / 1000 / Math.max(1, end.at - from.at);
  const loopBusy = performance.eventLoopUtilization(end.elu, from.elu).utilization;
  const machineCores = (end.machine.busyMs - from.machine.busyMs) / Math.max(1, end.at - from.at);
  return { label, ok, failed, seconds, perSecond: ok / seconds, p50: pick(0.5), p95: pick(0.95), p99: pick(0.99), cores, loopBusy, machineCores, firstError, samples: latencies };
}

/** Several slices of one phase as one result (interleaved measuring, bench/run.ts). */
export function mergeResults(label: string, parts: PhaseResult[]): PhaseResult {
  const seconds = parts.reduce((n, p) => n + p.seconds, 0);
  const ok = parts.reduce((n, p) => n + p.ok, 0);
  const samples = parts.flatMap((p) => p.samples).sort((a, b) => a - b);
  const weighted = (f: (p: PhaseResult) => number) => parts.reduce((n, p) => n + f(p) * p.seconds, 0) / seconds;
  return {
    label,
    ok,
    failed: parts.reduce((n, p) => n + p.failed, 0),
    seconds,
    perSecond: ok / seconds,
    p50: quantile(samples, 0.5),
    p95: quantile(samples, 0.95),
    p99: quantile(samples, 0.99),
    cores: weighted((p) => p.cores),
    loopBusy: weighted((p) => p.loopBusy),
    machineCores: weighted((p) => p.machineCores),
    queries: parts[0]?.queries,
    firstError: parts.find((p) => p.firstError)?.firstError,
    samples,
  };
}

/** The q-quantile (0..1) of sorted values. */
export function quantile(sorted: number[], q: number) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers (loopback only)

export function assertLoopback(url: string) {
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1') throw new Error(`refusing to benchmark a non-loopback URL: ${url}`);
  return url;
}

export async function listenLoopback(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as { port: number }).port;
}

/** A free port, so Gatehouse's PUBLIC_URL can name 127.0.0.1 before it starts. */
export async function freeLoopbackPort() {
  const probe = createServer();
  const port = await listenLoopback(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export async function closeServer(server: Server) {
  server.closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export interface TokenResponse {
  access_token?: string;
  id_token?: string;
  refresh_token?: string;
  scope?: string;
  error?: string;
  error_description?: string;
}

export async function postToken(tokenEndpoint: string, authorization: string, params: Record<string, string>) {
  const res = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(params).toString(),
  });
  const body = (await res.json()) as TokenResponse;
  if (res.status !== 200) throw new Error(`token endpoint answered ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`.trim());
  return body;
}

/**
 * A client_credentials grant for API; checks the answer, not the signature (done once, below).
 * Plain node:http with keep-alive rather than fetch: the load generator shares the CPUs with the
 * servers, and this costs it a good deal less per request than undici's fetch does.
 */
export function clientCredentialsOp(tokenEndpoint: string, clientId: string, secret: string, kind: { opaque?: boolean; maxSockets?: number } = {}) {
  const { url, headers, body } = clientCredentialsRequest(tokenEndpoint, clientId, secret, kind);
  const agent = benchAgent(kind.maxSockets);
  const options = { host: '127.0.0.1', port: Number(url.port), path: url.pathname + url.search, method: 'POST', agent, headers };
  return () =>
    new Promise<void>((resolve, reject) => {
      const req = request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          try {
            const answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as TokenResponse;
            if (res.statusCode !== 200) throw new Error(`token endpoint answered ${res.statusCode} ${answer.error ?? ''}`.trim());
            if (typeof answer.access_token !== 'string') throw new Error('client_credentials answer without an access_token');
            if (kind.opaque ? answer.access_token.includes('.') : answer.scope !== API_SCOPE) throw new Error(`unexpected client_credentials answer (scope ${answer.scope})`);
            resolve();
          } catch (err) {
            reject(err);
          }
        });
      });
      req.on('error', reject);
      req.end(body);
    });
}

/** The POST of a client_credentials grant, as `clientCredentialsOp` and the load thread send it. */
export function clientCredentialsRequest(tokenEndpoint: string, clientId: string, secret: string, kind: { opaque?: boolean } = {}) {
  const url = new URL(assertLoopback(tokenEndpoint));
  // With a resource: a JWT access token for it (RFC 9068). Without: an opaque token, stored by
  // the provider (Gatehouse: PostgreSQL or PGlite; the bare provider: its memory adapter).
  const params: Record<string, string> = kind.opaque ? { grant_type: 'client_credentials' } : { grant_type: 'client_credentials', resource: API, scope: API_SCOPE };
  const body = new URLSearchParams(params).toString();
  const headers = {
    authorization: basicAuth(clientId, secret),
    'content-type': 'application/x-www-form-urlencoded',
    'content-length': String(Buffer.byteLength(body)),
    accept: 'application/json',
  };
  return { url, headers, body };
}

/** Both providers must issue the same kind of token for the comparison to mean anything. */
export async function checkAccessToken(label: string, tokenEndpoint: string, jwksUri: string, issuer: string, clientId: string, secret: string) {
  const body = await postToken(tokenEndpoint, basicAuth(clientId, secret), { grant_type: 'client_credentials', resource: API, scope: API_SCOPE });
  const token = body.access_token!;
  const header = jose.decodeProtectedHeader(token);
  if (header.typ !== 'at+jwt') throw new Error(`${label}: access token is not an RFC 9068 JWT (typ ${header.typ})`);
  const { payload } = await jose.jwtVerify(token, jose.createLocalJWKSet((await (await fetch(jwksUri)).json()) as jose.JSONWebKeySet), { issuer, audience: API });
  if (payload.scope !== API_SCOPE || payload.client_id !== clientId) throw new Error(`${label}: unexpected access token claims`);
  return String(header.alg);
}

export interface Endpoints {
  issuer: string;
  origin: string;
  authorization: string;
  token: string;
  jwks: string;
}

export async function discover(issuer: string): Promise<Endpoints> {
  const doc = (await (await fetch(assertLoopback(`${issuer}/.well-known/openid-configuration`))).json()) as Record<string, string>;
  if (doc.issuer !== issuer) throw new Error(`discovery names issuer ${doc.issuer}, expected ${issuer}`);
  return { issuer, origin: new URL(issuer).origin, authorization: assertLoopback(doc.authorization_endpoint), token: assertLoopback(doc.token_endpoint), jwks: assertLoopback(doc.jwks_uri) };
}

/**
 * One complete login, as a browser and a confidential relying party do it: authorize → login page
 * → POST login → consent page → POST confirm → callback with a code → token endpoint. A fresh
 * cookie jar each time, so there is never a session to skip the password step.
 * Returns the number of HTTP requests it took.
 */
export async function passwordLogin(ep: Endpoints, app: { clientId: string; secret: string }, user: BenchUser): Promise<{ requests: number; tokens: TokenResponse }> {
  const browser = new HttpBrowser();
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const authorize = new URL(ep.authorization);
  authorize.search = new URLSearchParams({
    client_id: app.clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: LOGIN_SCOPE,
    prompt: 'consent',
    state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();

  const login = await browser.follow(authorize.toString(), ep.origin);
  const loginHtml = login.res.status === 200 ? login.res.text() : '';
  if (!loginHtml.includes('name="password"')) throw new Error(`no login page (status ${login.res.status})`);
  const loggedIn = await browser.post(`${login.url}/login`, { csrf: csrfOf(loginHtml), email: user.email, password: user.password });
  if (loggedIn.status !== 303) throw new Error(`login refused: ${loggedIn.status}`);

  let consent = await browser.follow(new URL(loggedIn.location!, login.url).toString(), ep.origin);
  let consentHtml = consent.res.status === 200 ? consent.res.text() : '';
  if (user.totpSecret) {
    // The second step: a code from an RFC 6238 of the bench's own (not otplib, which checks it).
    if (!consentHtml.includes('name="code"')) throw new Error(`no code form (status ${consent.res.status})`);
    const verified = await browser.post(`${consent.url}/mfa`, { csrf: csrfOf(consentHtml), code: rfc6238(user.totpSecret) });
    if (verified.status !== 303) throw new Error(`code refused: ${verified.status}`);
    consent = await browser.follow(new URL(verified.location!, consent.url).toString(), ep.origin);
    consentHtml = consent.res.status === 200 ? consent.res.text() : '';
  }
  if (!consentHtml.includes('name="decision"')) throw new Error(`no consent page (status ${consent.res.status})`);
  const confirmed = await browser.post(`${consent.url}/confirm`, { csrf: csrfOf(consentHtml), decision: 'allow' });
  if (confirmed.status !== 303) throw new Error(`consent refused: ${confirmed.status}`);

  const done = await browser.follow(new URL(confirmed.location!, consent.url).toString(), ep.origin);
  if (!done.url.startsWith(REDIRECT_URI)) throw new Error(`login did not reach the callback: ${done.url}`);
  const callback = new URL(done.url);
  const code = callback.searchParams.get('code');
  if (!code || callback.searchParams.get('state') !== state) throw new Error(`bad callback: ${callback.searchParams.get('error') ?? 'no code or state mismatch'}`);

  // The relying party's back-channel call: the same node:http client, without the cookies.
  const answer = await new HttpBrowser().post(ep.token, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }, basicAuth(app.clientId, app.secret));
  browser.requests++;
  if (answer.status !== 200) throw new Error(`token endpoint answered ${answer.status}`);
  const tokens = JSON.parse(answer.text()) as TokenResponse;
  if (!tokens.id_token || !tokens.access_token || !tokens.refresh_token) throw new Error('token response lacks id_token, access_token or refresh_token');
  return { requests: browser.requests, tokens };
}


// ---------------------------------------------------------------------------------------------
// Gatehouse

export interface BenchGatehouse {
  gh: Gatehouse;
  storage: string;
  kv: string;
  stop(): Promise<void>;
}

export async function startBenchGatehouse(options: { bcryptCost: number; tenantCacheSize?: number }): Promise<BenchGatehouse> {
  const db = await freshDatabase('gh_bench');
  const label = db.url ? `PostgreSQL at ${new URL(db.url).host} (database ${new URL(db.url).pathname.slice(1)}, pool of 10)` : 'PGlite (embedded, temporary folder)';
  const port = await freeLoopbackPort();
  const redisUrl = process.env.REDIS_URL || undefined;
  const config: Config = {
    production: false,
    port,
    publicUrl: `http://127.0.0.1:${port}`,
    publicUrlFixed: true,
    trustProxy: [],
    databaseUrl: db.url,
    redisUrl,
    dataDir: db.dataDir!,
    masterKey: randomBytes(32).toString('base64'),
    bootstrap: {},
    bcryptCost: options.bcryptCost,
    logLevel: 'error',
    outboundAllow: [],
  };
  let gh: Gatehouse;
  try {
    gh = await startGatehouse(config, { kvPrefix: `ghbench:${randomBytes(4).toString('hex')}:`, tenantCacheSize: options.tenantCacheSize });
  } catch (err) {
    await db.drop().catch(() => {});
    throw err;
  }
  // The warm-up users' cost-4 hashes stay so: a login at another cost than BCRYPT_COST would
  // otherwise hash the password again at BCRYPT_COST, in the background of what is measured.
  gh.deps.passwords.rehash = false;
  return {
    gh,
    storage: label,
    kv: redisUrl ? `Redis at ${new URL(redisUrl).host}` : 'in-process memory',
    async stop() {
      gh.server.closeAllConnections?.();
      await gh.close();
      await db.drop();
    },
  };
}

/**
 * A tenant for load from one generator on one address: its per-address and per-account login
 * limits (which would answer most of the logins 429, as they should) are off.
 */
export async function loadTestTenant(gh: Gatehouse, slugPrefix: string, name?: string): Promise<Tenant> {
  const created = await createTenant(gh.deps, { slug: `${slugPrefix}-${randomBytes(3).toString('hex')}`, ...(name ? { name } : {}) }, CLI_ACTOR);
  const off = { limit: 0, window_seconds: 60 };
  return (await changeTenantSettings(gh.deps, created, { settings: { rate_limits: { ...created.settings.rate_limits, login_per_ip: off, login_per_account: off } } }, CLI_ACTOR))!;
}

/** A resource with two permissions, a role granting one of them, and a service client holding the role. */
export async function serviceClient(gh: Gatehouse, tenant: Tenant) {
  const db = gh.deps.db;
  const resourceId = randomUUID();
  await db('resources').insert({ tenant_id: tenant.id, id: resourceId, identifier: API, name: 'Orders' });
  await db('permissions').insert([API_SCOPE, 'write:orders'].map((name) => ({ tenant_id: tenant.id, resource_id: resourceId, name })));
  const role = await insertRole(db, tenant.id, { name: 'order-reader' });
  await db('role_permissions').insert({ tenant_id: tenant.id, role_id: role.id, resource_id: resourceId, permission: API_SCOPE });
  const { client, secret } = await registerClient(
    gh.deps,
    tenant,
    { metadata: { client_name: 'Bench service', grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] }, roles: ['order-reader'] },
    CLI_ACTOR,
    clientValidator(gh.registry),
  );
  return { clientId: client.clientId, secret: secret! };
}

export async function webClient(gh: Gatehouse, tenant: Tenant) {
  const { client, secret } = await registerClient(gh.deps, tenant, { metadata: { client_name: 'Bench web app', redirect_uris: [REDIRECT_URI] } }, CLI_ACTOR, clientValidator(gh.registry));
  return { clientId: client.clientId, secret: secret! };
}

export interface BenchUser {
  email: string;
  password: string;
  totpSecret?: string;
}

/**
 * One user per worker, so no two logins in flight share an account. `warmUpCost`: users for the
 * warm-up logins (bench/run.ts) instead, their hashes rewritten at that (low) cost, so the
 * warm-up runs the login's code many times without its minutes of hashing.
 */
export async function benchUsers(gh: Gatehouse, tenant: Tenant, count: number, { warmUpCost }: { warmUpCost?: number } = {}) {
  const prefix = warmUpCost === undefined ? 'bench' : 'bench-warm-up';
  const users: BenchUser[] = [];
  for (let i = 0; i < count; i++) {
    const email = `${prefix}-${i}@example.com`;
    const password = randomBytes(18).toString('base64url');
    const user = await createUser(gh.deps, tenant, { email, password, name: 'Bench User', givenName: 'Bench', familyName: 'User', emailVerified: true }, CLI_ACTOR);
    // Before the user's first login, so no node has the account cached with the other hash.
    if (warmUpCost !== undefined) await gh.deps.db('users').where({ tenant_id: tenant.id, id: user.id }).update({ password_hash: await bcrypt.hash(password, warmUpCost) });
    users.push({ email, password });
  }
  const row = await gh.deps.db('users').where({ tenant_id: tenant.id, email: users[0].email }).first('password_hash');
  return { users, storedCost: bcrypt.getRounds(String(row.password_hash)) };
}

/**
 * Users with an active TOTP factor. Each code is accepted once (RFC 6238 §5.2, across nodes), so
 * a user logs in at most once per 30 s step: the phase takes the next user of a pool larger than
 * the logins of a phase. They share one password hash (copied rows: hashing each would take
 * minutes at cost 12); each has a seed of its own, sealed as enrollment seals it.
 */
export async function totpUsers(gh: Gatehouse, tenant: Tenant, count: number, { warmUpCost }: { warmUpCost?: number } = {}) {
  const prefix = warmUpCost === undefined ? 'bench-totp' : 'bench-totp-warm-up';
  const password = randomBytes(18).toString('base64url');
  const template = await createUser(gh.deps, tenant, { email: `${prefix}-template@example.com`, password, emailVerified: true }, CLI_ACTOR);
  const { password_hash: storedHash } = await gh.deps.db('users').where({ tenant_id: tenant.id, id: template.id }).first('password_hash');
  // Warm-up users (bench/run.ts, as benchUsers): the same password at a low cost.
  const passwordHash = warmUpCost === undefined ? storedHash : await bcrypt.hash(password, warmUpCost);
  const users: BenchUser[] = [];
  const rows = [];
  const factors = [];
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    const email = `${prefix}-${i}@example.com`;
    const enrollment = beginTotpEnrollment(gh.deps, tenant, { id, email });
    rows.push({ tenant_id: tenant.id, id, email, email_normalized: email, password_hash: passwordHash, email_verified: true });
    factors.push({ tenant_id: tenant.id, user_id: id, type: 'totp', secret_encrypted: enrollment.sealed, confirmed_at: new Date() });
    users.push({ email, password, totpSecret: enrollment.secret });
  }
  for (let i = 0; i < rows.length; i += 200) await gh.deps.db('users').insert(rows.slice(i, i + 200));
  for (let i = 0; i < factors.length; i += 200) await gh.deps.db('user_mfa_factors').insert(factors.slice(i, i + 200));
  return users;
}

// ---------------------------------------------------------------------------------------------
// The bare oidc-provider

/**
 * The baseline: oidc-provider as its documentation starts it, with its in-memory adapter and
 * static clients. For the token phases a service client and resource indicators giving a JWT
 * access token for API, signed with the same algorithm (and key size) as the Gatehouse tenant and
 * with the same lifetime. For the login phase (`login`), a web client and one account whose
 * password is checked with `bcrypt.compare` (libuv's threads), behind the smallest pages the
 * bench's browser can walk (login form, consent form, each with a CSRF token): what any identity
 * provider built on oidc-provider pays for a login before it stores anything.
 * `nativeSigning`: its key is handed over as Gatehouse hands its own (src/provider/signing-key.ts:
 * node:crypto signs, not jose through WebCrypto), so the two differ only by what Gatehouse adds
 * around the provider.
 */
export async function startBareProvider(alg: string, accessTokenTTL: number, login?: { user: BenchUser; cost: number; warmUp?: { user: BenchUser; cost: number } }, { nativeSigning = false } = {}) {
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = createServer((req, res) => handle(req, res));
  const port = await listenLoopback(server);
  const issuer = `http://127.0.0.1:${port}`;

  const { privateKey } = await jose.generateKeyPair(alg, alg === 'RS256' ? { modulusLength: 2048, extractable: true } : { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const jwk = { ...(await jose.exportJWK(privateKey)), kid: 'bare-bench', alg, use: 'sig' };
  const clientId = 'bare-bench-service';
  const secret = randomBytes(32).toString('base64url');

  const web = { clientId: 'bare-bench-web', secret: randomBytes(32).toString('base64url') };
  // The measured account, and one for warm-up logins at a low cost (bench/run.ts), as Gatehouse has.
  const accounts = new Map<string, BareAccount>();
  for (const { user, cost } of login ? [login, ...(login.warmUp ? [login.warmUp] : [])] : []) {
    accounts.set(user.email, { id: randomUUID(), email: user.email, hash: await bcrypt.hash(user.password, cost) });
  }
  const byId = new Map([...accounts.values()].map((a) => [a.id, a]));
  const configuration: Configuration = {
    clients: [
      { client_id: clientId, client_secret: secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' },
      { client_id: web.clientId, client_secret: web.secret, grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'client_secret_basic' },
    ],
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    findAccount: (_ctx, sub) => {
      const account = byId.get(sub);
      return account && { accountId: sub, claims: () => ({ sub, name: 'Bench', email: account.email, email_verified: true }) };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    jwks: { keys: [nativeSigning ? new NativeSigningKey(jwk) : (jwk as any)] },
    ttl: { ClientCredentials: accessTokenTTL },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      ...(nativeSigning ? { externalSigningSupport: EXTERNAL_SIGNING } : {}),
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? [],
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== API) throw new errors.InvalidTarget('unknown resource');
          return { audience: API, scope: API_SCOPE, accessTokenFormat: 'jwt', accessTokenTTL, jwt: { sign: { alg: alg as any } } };
        },
      },
    },
  };
  const provider = new Provider(issuer, configuration);
  const callback = provider.callback();
  const csrfKey = randomBytes(32);
  handle = (req, res) => {
    const page = /^\/interaction\/([\w-]+)(\/login|\/confirm)?$/.exec(req.url ?? '');
    if (!page || !accounts.size) return callback(req, res);
    bareInteraction(provider, accounts, createHmac('sha256', csrfKey).update(page[1]).digest('base64url'), req, res).catch((err) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  };
  return {
    issuer,
    clientId,
    secret,
    web,
    stop: () => closeServer(server),
  };
}

/** The bare provider's login and consent pages: a form each, checked as Gatehouse checks its own. */
interface BareAccount {
  id: string;
  email: string;
  hash: string;
}

async function bareInteraction(provider: Provider, accounts: Map<string, BareAccount>, csrf: string, req: IncomingMessage, res: ServerResponse) {
  const details = await provider.interactionDetails(req, res);
  const form = (action: string, fields: string) =>
    `<!doctype html><form method="post" action="/interaction/${details.uid}/${action}"><input type="hidden" name="csrf" value="${csrf}">${fields}<button>Go</button></form>`;
  if (req.method === 'GET') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    res.end(details.prompt.name === 'login'
      ? form('login', '<input name="email"><input name="password" type="password">')
      : form('confirm', '<button name="decision" value="allow">Allow</button>'));
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  const sent = Buffer.from(body.get('csrf') ?? '');
  if (sent.length !== csrf.length || !timingSafeEqual(sent, Buffer.from(csrf))) throw new Error('csrf');
  if (req.url!.endsWith('/login')) {
    const account = accounts.get(body.get('email') ?? '');
    if (!account || !(await bcrypt.compare(body.get('password') ?? '', account.hash))) throw new Error('wrong password');
    await provider.interactionFinished(req, res, { login: { accountId: account.id } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
  const missing = details.prompt.details.missingOIDCScope as string[] | undefined;
  if (missing) grant.addOIDCScope(missing.join(' '));
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}


// ---------------------------------------------------------------------------------------------
// Report

export function table(rows: PhaseResult[]) {
  const head = ['phase', 'ok', 'failed', 'per second', 'p50 ms', 'p99 ms', 'CPU cores', 'CPU ms/op', 'machine cores', 'loop busy', 'queries/op'];
  const body = rows.map((r) => [
    r.label,
    String(r.ok),
    String(r.failed),
    r.perSecond.toFixed(1),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    r.cores.toFixed(2),
    ((r.cores * 1000) / r.perSecond).toFixed(2),
    Number.isNaN(r.machineCores) ? '-' : r.machineCores.toFixed(2),
    `${Math.round(r.loopBusy * 100)}%`,
    r.queries === undefined ? '-' : String(r.queries),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}