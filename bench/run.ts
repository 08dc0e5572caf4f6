/**
 * Throughput bench (`npm run bench`, docs/BENCHMARKS.md).
 *
 * In one process it starts Gatehouse (embedded PGlite in a temporary folder, or a fresh database
 * on DATABASE_URL; REDIS_URL under a key prefix of its own) and, for comparison, a bare
 * oidc-provider with its in-memory adapter and a static client. Every phase runs for a fixed time
 * with a fixed number of requests in flight, after a short warm-up, and talks only to 127.0.0.1.
 * (The bare provider listens on 127.0.0.1 only; Gatehouse is started by startGatehouse, whose
 * listen() takes the port alone, so it binds every interface on an ephemeral port for the run.)
 *
 *   1. client_credentials grants/s: Gatehouse vs the bare provider (target ratio >= 0.6)
 *   2. complete password logins/s on Gatehouse vs raw bcrypt.compare/s at the same cost
 *      (target ratio >= 0.8), without and with a TOTP step (a code check is no second bcrypt)
 *
 * The process exits 0 whether the targets are met or not; it exits 1 only when the bench itself
 * could not run (a request in a smoke check failed, for example).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
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
import { clientValidator } from '../src/tenancy/validate-client.js';
import { freshDatabase } from '../test/support/database.js';
import { csrfOf } from '../test/support/browser.js';
import { rfc6238 } from '../test/support/totp.js';
import { HttpBrowser } from './http-browser.js';

// ---------------------------------------------------------------------------------------------
// Settings

/**
 * The cost Gatehouse hashes passwords with: BCRYPT_COST as the server reads it, with the server's
 * own default (12, DESIGN.md) when unset. The login ratio compares with raw verifies at this cost.
 */
const BCRYPT_COST = setting('BCRYPT_COST', 12, 4, 16, true);
const PHASE_SECONDS = setting('BENCH_SECONDS', 10, 1, 30);
const WARMUP_SECONDS = 1;
const CONCURRENCY = setting('BENCH_CONCURRENCY', 8, 1, 64);
/** Hard bounds on every measuring loop, besides its deadline. */
const MAX_OPS_PER_PHASE = 1_000_000;
const MAX_FAILURES_PER_PHASE = 50;

/** Users with TOTP: more than a phase's logins (each may log in once per 30 s step). */
const TOTP_USERS = setting('BENCH_TOTP_USERS', 1500, 50, 20000, true);
const CC_TARGET = 0.6;
const LOGIN_TARGET = 0.8;

/** A resource indicator: an identifier only, never contacted. */
const API = 'https://api.bench.invalid/orders';
const API_SCOPE = 'read:orders';
/** The web client's callback. Logins stop at the redirect to it; nothing listens there. */
const REDIRECT_URI = 'http://127.0.0.1:9/bench/callback';
const LOGIN_SCOPE = 'openid profile email offline_access';

function setting(name: string, fallback: number, min: number, max: number, integer = false) {
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

interface PhaseResult {
  label: string;
  /** Operations that completed inside the measuring window. */
  ok: number;
  failed: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p95: number;
  /** CPU time this process used in the window, in cores (user + system, all threads). */
  cores: number;
  /** Share of the window the main thread's event loop was busy (0..1). */
  loopBusy: number;
  /** Database queries one operation made (counted on the smoke call), when known. */
  queries?: number;
  firstError?: string;
}

/**
 * Runs `op` from `concurrency` workers continuously for WARMUP_SECONDS + `seconds`, and counts
 * what completes in the last `seconds` only: the window sees the steady state, with neither the
 * ramp-up nor the drain at the end (which would cost long operations like logins the most).
 */
async function runPhase(label: string, seconds: number, concurrency: number, op: (worker: number) => Promise<void>): Promise<PhaseResult> {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let issued = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const windowStart = started + WARMUP_SECONDS * 1000;
  const windowEnd = windowStart + seconds * 1000;
  const inWindow = (t: number) => t >= windowStart && t < windowEnd;

  // CPU time at the window's edges (a timer can fire a little late; its own clock reading is used).
  const sample = () => ({ at: performance.now(), usage: process.cpuUsage(), elu: performance.eventLoopUtilization() });
  let cpuStart = sample();
  let cpuEnd = cpuStart;
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
  if (ok === 0) throw new Error(`${label}: nothing completed in the measuring window (${failed} failed: ${firstError ?? 'none'})`);
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  const cpuMicros = cpuEnd.usage.user - cpuStart.usage.user + (cpuEnd.usage.system - cpuStart.usage.system);
  const cores = cpuMicros / 1000 / Math.max(1, cpuEnd.at - cpuStart.at);
  const loopBusy = performance.eventLoopUtilization(cpuEnd.elu, cpuStart.elu).utilization;
  return { label, ok, failed, seconds, perSecond: ok / seconds, p50: pick(0.5), p95: pick(0.95), cores, loopBusy, firstError };
}

/**
 * One checked call (a failure there is a broken bench, not a slow server; `queries` counts what
 * it asked of the database), then the warm-up and the measured window.
 */
async function phase(label: string, op: (worker: number) => Promise<void>, queries?: () => number): Promise<PhaseResult> {
  process.stdout.write(`  ${label} ...`);
  const before = queries?.();
  await op(0);
  const perOp = queries && before !== undefined ? queries() - before : undefined;
  const result = await runPhase(label, PHASE_SECONDS, CONCURRENCY, op);
  process.stdout.write(` ${result.perSecond.toFixed(1)}/s\n`);
  return { ...result, queries: perOp };
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers (loopback only)

function basicAuth(clientId: string, secret: string) {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

function assertLoopback(url: string) {
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1') throw new Error(`refusing to benchmark a non-loopback URL: ${url}`);
  return url;
}

async function listenLoopback(server: Server, port = 0): Promise<number> {
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
async function freeLoopbackPort() {
  const probe = createServer();
  const port = await listenLoopback(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function closeServer(server: Server) {
  server.closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

interface TokenResponse {
  access_token?: string;
  id_token?: string;
  refresh_token?: string;
  scope?: string;
  error?: string;
  error_description?: string;
}

async function postToken(tokenEndpoint: string, authorization: string, params: Record<string, string>) {
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
function clientCredentialsOp(tokenEndpoint: string, clientId: string, secret: string) {
  const url = new URL(assertLoopback(tokenEndpoint));
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const body = new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: API_SCOPE }).toString();
  const headers = {
    authorization: basicAuth(clientId, secret),
    'content-type': 'application/x-www-form-urlencoded',
    'content-length': String(Buffer.byteLength(body)),
    accept: 'application/json',
  };
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
            if (typeof answer.access_token !== 'string' || answer.scope !== API_SCOPE) throw new Error(`unexpected client_credentials answer (scope ${answer.scope})`);
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

/** Both providers must issue the same kind of token for the comparison to mean anything. */
async function checkAccessToken(label: string, tokenEndpoint: string, jwksUri: string, issuer: string, clientId: string, secret: string) {
  const body = await postToken(tokenEndpoint, basicAuth(clientId, secret), { grant_type: 'client_credentials', resource: API, scope: API_SCOPE });
  const token = body.access_token!;
  const header = jose.decodeProtectedHeader(token);
  if (header.typ !== 'at+jwt') throw new Error(`${label}: access token is not an RFC 9068 JWT (typ ${header.typ})`);
  const { payload } = await jose.jwtVerify(token, jose.createLocalJWKSet((await (await fetch(jwksUri)).json()) as jose.JSONWebKeySet), { issuer, audience: API });
  if (payload.scope !== API_SCOPE || payload.client_id !== clientId) throw new Error(`${label}: unexpected access token claims`);
  return String(header.alg);
}

interface Endpoints {
  issuer: string;
  origin: string;
  authorization: string;
  token: string;
  jwks: string;
}

async function discover(issuer: string): Promise<Endpoints> {
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
async function passwordLogin(ep: Endpoints, app: { clientId: string; secret: string }, user: BenchUser) {
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
  return browser.requests;
}

// ---------------------------------------------------------------------------------------------
// Gatehouse

interface BenchGatehouse {
  gh: Gatehouse;
  storage: string;
  kv: string;
  stop(): Promise<void>;
}

async function startBenchGatehouse(): Promise<BenchGatehouse> {
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
    bcryptCost: BCRYPT_COST,
    logLevel: 'error',
    outboundAllow: [],
  };
  let gh: Gatehouse;
  try {
    gh = await startGatehouse(config, { kvPrefix: `ghbench:${randomBytes(4).toString('hex')}:` });
  } catch (err) {
    await db.drop().catch(() => {});
    throw err;
  }
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

/** A resource with two permissions, a role granting one of them, and a service client holding the role. */
async function serviceClient(gh: Gatehouse, tenant: Tenant) {
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

async function webClient(gh: Gatehouse, tenant: Tenant) {
  const { client, secret } = await registerClient(gh.deps, tenant, { metadata: { client_name: 'Bench web app', redirect_uris: [REDIRECT_URI] } }, CLI_ACTOR, clientValidator(gh.registry));
  return { clientId: client.clientId, secret: secret! };
}

interface BenchUser {
  email: string;
  password: string;
  totpSecret?: string;
}

/** One user per worker, so no two logins in flight share an account. */
async function benchUsers(gh: Gatehouse, tenant: Tenant, count: number) {
  const users: BenchUser[] = [];
  for (let i = 0; i < count; i++) {
    const email = `bench-${i}@example.com`;
    const password = randomBytes(18).toString('base64url');
    await createUser(gh.deps, tenant, { email, password, name: 'Bench User', givenName: 'Bench', familyName: 'User', emailVerified: true }, CLI_ACTOR);
    users.push({ email, password });
  }
  const row = await gh.deps.db('users').where({ tenant_id: tenant.id }).first('password_hash');
  return { users, storedCost: bcrypt.getRounds(String(row.password_hash)) };
}

/**
 * Users with an active TOTP factor. Each code is accepted once (RFC 6238 §5.2, across nodes), so
 * a user logs in at most once per 30 s step: the phase takes the next user of a pool larger than
 * the logins of a phase. They share one password hash (copied rows: hashing each would take
 * minutes at cost 12); each has a seed of its own, sealed as enrollment seals it.
 */
async function totpUsers(gh: Gatehouse, tenant: Tenant, count: number) {
  const password = randomBytes(18).toString('base64url');
  const template = await createUser(gh.deps, tenant, { email: 'bench-totp-template@example.com', password, emailVerified: true }, CLI_ACTOR);
  const { password_hash: passwordHash } = await gh.deps.db('users').where({ tenant_id: tenant.id, id: template.id }).first('password_hash');
  const users: BenchUser[] = [];
  const rows = [];
  const factors = [];
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    const enrollment = beginTotpEnrollment(gh.deps, tenant, { id, email: `bench-totp-${i}@example.com` });
    rows.push({ tenant_id: tenant.id, id, email: `bench-totp-${i}@example.com`, email_normalized: `bench-totp-${i}@example.com`, password_hash: passwordHash, email_verified: true });
    factors.push({ tenant_id: tenant.id, user_id: id, type: 'totp', secret_encrypted: enrollment.sealed, confirmed_at: new Date() });
    users.push({ email: `bench-totp-${i}@example.com`, password, totpSecret: enrollment.secret });
  }
  for (let i = 0; i < rows.length; i += 200) await gh.deps.db('users').insert(rows.slice(i, i + 200));
  for (let i = 0; i < factors.length; i += 200) await gh.deps.db('user_mfa_factors').insert(factors.slice(i, i + 200));
  return users;
}

// ---------------------------------------------------------------------------------------------
// The bare oidc-provider

/**
 * oidc-provider as its documentation starts it: default in-memory adapter, one static client,
 * resource indicators giving a JWT access token for API. It signs with the same algorithm
 * (and key size) as the Gatehouse tenant, and the same access token lifetime.
 */
async function startBareProvider(alg: string, accessTokenTTL: number) {
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

  const configuration: Configuration = {
    clients: [{ client_id: clientId, client_secret: secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' }],
    jwks: { keys: [jwk as any] },
    ttl: { ClientCredentials: accessTokenTTL },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
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
  handle = provider.callback();
  return {
    issuer,
    clientId,
    secret,
    stop: () => closeServer(server),
  };
}

// ---------------------------------------------------------------------------------------------
// Report

function table(rows: PhaseResult[]) {
  const head = ['phase', 'ok', 'failed', 'per second', 'p50 ms', 'p95 ms', 'CPU cores', 'CPU ms/op', 'loop busy', 'queries/op'];
  const body = rows.map((r) => [
    r.label,
    String(r.ok),
    String(r.failed),
    r.perSecond.toFixed(1),
    r.p50.toFixed(1),
    r.p95.toFixed(1),
    r.cores.toFixed(2),
    ((r.cores * 1000) / r.perSecond).toFixed(2),
    `${Math.round(r.loopBusy * 100)}%`,
    r.queries === undefined ? '-' : String(r.queries),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function verdict(name: string, ratio: number, target: number) {
  const mark = ratio >= target ? 'PASS' : 'MISS';
  return `${name.padEnd(44)} ${ratio.toFixed(2)}  (target >= ${target.toFixed(2)})  ${mark}`;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  configureLogger({ silent: true });
  const t0 = performance.now();

  console.log('Gatehouse bench');
  const loadBefore = loadavg()[0];
  const bench = await startBenchGatehouse();
  const stops: (() => Promise<void>)[] = [() => bench.stop()];
  try {
    const { gh } = bench;
    // One load generator on one address: the tenant's per-address and per-account login limits
    // (which would answer most of these logins 429, as they should) are off for the bench.
    const created = await createTenant(gh.deps, { slug: `bench-${randomBytes(3).toString('hex')}`, name: 'Bench' }, CLI_ACTOR);
    const off = { limit: 0, window_seconds: 60 };
    const tenant = (await changeTenantSettings(gh.deps, created, { settings: { rate_limits: { ...created.settings.rate_limits, login_per_ip: off, login_per_account: off } } }, CLI_ACTOR))!;
    const ghEndpoints = await discover(`${gh.url}/t/${tenant.slug}`);
    const service = await serviceClient(gh, tenant);
    const web = await webClient(gh, tenant);
    const { users, storedCost } = await benchUsers(gh, tenant, CONCURRENCY);
    if (storedCost !== BCRYPT_COST) throw new Error(`stored password hashes have cost ${storedCost}, expected ${BCRYPT_COST}`);
    let queryCount = 0;
    gh.deps.db.on('query', () => queryCount++);
    const queries = () => queryCount;

    const alg = await checkAccessToken('Gatehouse', ghEndpoints.token, ghEndpoints.jwks, ghEndpoints.issuer, service.clientId, service.secret);
    const bare = await startBareProvider(alg, tenant.settings.access_token_ttl);
    stops.unshift(bare.stop);
    const bareEndpoints = await discover(bare.issuer);
    const bareAlg = await checkAccessToken('bare oidc-provider', bareEndpoints.token, bareEndpoints.jwks, bare.issuer, bare.clientId, bare.secret);
    const requestsPerLogin = await passwordLogin(ghEndpoints, web, users[0]);
    const withTotp = await totpUsers(gh, tenant, TOTP_USERS);
    let nextTotpUser = 0;
    const requestsPerTotpLogin = await passwordLogin(ghEndpoints, web, withTotp[nextTotpUser++]);

    const rawPassword = randomBytes(18).toString('base64url');
    const rawHash = await bcrypt.hash(rawPassword, BCRYPT_COST);

    console.log(`  storage: ${bench.storage}; kv: ${bench.kv}`);
    console.log(`  access tokens: RFC 9068 JWT, ${alg} (Gatehouse) / ${bareAlg} (bare); BCRYPT_COST ${BCRYPT_COST} (stored hashes: cost ${storedCost})`);
    console.log(`  ${PHASE_SECONDS} s per phase after ${WARMUP_SECONDS} s warm-up, ${CONCURRENCY} in flight`);

    const bareCc = await phase('client_credentials: bare oidc-provider', clientCredentialsOp(bareEndpoints.token, bare.clientId, bare.secret));
    const ghCc = await phase('client_credentials: Gatehouse', clientCredentialsOp(ghEndpoints.token, service.clientId, service.secret), queries);
    const rawBcrypt = await phase(`bcrypt.compare, cost ${BCRYPT_COST}: raw`, async () => {
      if (!(await bcrypt.compare(rawPassword, rawHash))) throw new Error('bcrypt.compare returned false');
    });
    const logins = await phase(
      `password login (${requestsPerLogin} requests): Gatehouse`,
      async (worker) => {
        await passwordLogin(ghEndpoints, web, users[worker % users.length]);
      },
      queries,
    );
    const totpLogins = await phase(
      `password + TOTP login (${requestsPerTotpLogin} requests): Gatehouse`,
      async () => {
        if (nextTotpUser >= withTotp.length) throw new Error('TOTP user pool used up: raise TOTP_USERS');
        await passwordLogin(ghEndpoints, web, withTotp[nextTotpUser++]);
      },
      queries,
    );

    const ccRatio = ghCc.perSecond / bareCc.perSecond;
    const loginRatio = logins.perSecond / rawBcrypt.perSecond;
    const totpRatio = totpLogins.perSecond / rawBcrypt.perSecond;
    const cpu = cpus()[0]?.model ?? 'unknown CPU';

    console.log('');
    console.log(`machine: ${availableParallelism()} cores available (${cpus().length} logical CPUs, ${cpu}); node ${process.version}; ${process.platform}/${process.arch}; UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`);
    console.log(`BCRYPT_COST ${BCRYPT_COST}; ${PHASE_SECONDS} s per phase; concurrency ${CONCURRENCY}; 1-min load average ${loadBefore.toFixed(2)} before, ${loadavg()[0].toFixed(2)} after (other work on the machine skews every figure)`);
    console.log('');
    console.log(table([bareCc, ghCc, rawBcrypt, logins, totpLogins]));
    console.log(`per second: completions in the ${PHASE_SECONDS} s window (failed also counts the warm-up). CPU cores: CPU time of this whole process (servers, load generator,`);
    console.log(`all threads) per second of window, out of ${availableParallelism()}. loop busy: main-thread event-loop utilisation. queries/op: knex queries of one call.`);
    for (const r of [bareCc, ghCc, rawBcrypt, logins, totpLogins]) if (r.firstError) console.log(`  ! ${r.label}: first error: ${r.firstError}`);
    console.log('');
    console.log(verdict('client_credentials  Gatehouse / bare', ccRatio, CC_TARGET));
    console.log(verdict('password logins     logins / raw bcrypt', loginRatio, LOGIN_TARGET));
    // A code check costs an HMAC and one kv write, never a second bcrypt: the same target holds.
    console.log(verdict('password + TOTP     logins / raw bcrypt', totpRatio, LOGIN_TARGET));
    console.log('');
    console.log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    for (const stop of stops) await stop().catch((err) => console.error('cleanup failed:', err));
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('bench failed:', err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
