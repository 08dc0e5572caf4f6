/**
 * Bench (`npm run bench`, docs/BENCHMARKS.md). Three modes:
 *
 *   npm run bench            throughput against baselines measured in the same run
 *   npm run bench -- scale   10,000 tenants on one node (bench/scale.ts)
 *   npm run bench -- soak    mixed load on PostgreSQL + Redis for 10 minutes (bench/soak.ts)
 *   npm run bench -- hashing what a burst of password checks does to the event loop (bench/hashing.ts)
 *   npm run bench -- logins  phase 4 alone (below), for trying a change to the login path
 *   npm run bench -- grants  phases 1-3 alone, for trying a change to the token path
 *
 * Throughput: in one process it starts Gatehouse (embedded PGlite in a temporary folder, or a
 * fresh database on DATABASE_URL; REDIS_URL under a key prefix of its own) and, for comparison, a
 * bare oidc-provider with its in-memory adapter and a static client. Each comparison runs its
 * sides interleaved (BENCH_ROUNDS slices each, the order turned every round), so load from other
 * work on the machine falls on both sides alike. Only 127.0.0.1 is contacted.
 *
 *   1. client_credentials, JWT access token: Gatehouse / bare        target >= 0.9
 *      (also against a bare provider that signs as Gatehouse does, through node:crypto: without a
 *      target, what Gatehouse costs besides its faster signing)
 *   2. client_credentials, opaque access token: Gatehouse / bare     target >= 0.5
 *      (phases 1 and 2: each side first serves BENCH_WARM_UP_GRANTS grants, as the logins below
 *      have their warm-up)
 *   3. client_credentials p99 at half of Gatehouse's measured peak   target < 25 ms
 *      (the requests sent from a thread of its own, bench/fixed-rate-worker.mjs)
 *   4. complete password logins / raw bcrypt.compare, same cost      target >= 0.85 (cost 11)
 *      (also with a TOTP step: a code check is no second bcrypt; and the same login on a bare
 *      oidc-provider, in memory with two bare pages: the ceiling, reported without a target).
 *      Both providers first serve BENCH_WARM_UP_LOGINS logins of users hashed at cost 4, so the
 *      comparison measures a node in service, whose code V8 has compiled, not a new process.
 *
 * The process exits 0 whether the targets are met or not; it exits 1 only when the bench itself
 * could not run (a request in a smoke check failed, for example).
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import bcrypt from 'bcrypt';
import { configureLogger } from '../src/log/logger.js';
import { oidcProviderPatch } from '../src/provider/patched.js';
import { SERVING_V8_FLAGS, tuneV8ForServing } from '../src/ops/v8-tuning.js';
import {
  API_SCOPE, benchUsers, checkAccessToken, clientCredentialsOp, clientCredentialsRequest, discover, fixedRateFromThread, loadTestTenant, mergeResults, passwordLogin, runPhase, serviceClient,
  setting, startBareProvider, startBenchGatehouse, table, totpUsers, watchGC, webClient, type PhaseResult,
} from './harness.js';

// ---------------------------------------------------------------------------------------------
// Settings

/** The cost Gatehouse hashes passwords with in the bench, and raw bcrypt is timed at. */
const BCRYPT_COST = setting('BCRYPT_COST', 11, 4, 16, true);
/** Seconds measured per side of each comparison (spread over ROUNDS slices). */
const PHASE_SECONDS = setting('BENCH_SECONDS', 10, 2, 60);
const CONCURRENCY = setting('BENCH_CONCURRENCY', 8, 1, 64);
const ROUNDS = setting('BENCH_ROUNDS', 4, 1, 10, true);
const SLICE_WARMUP_SECONDS = 0.5;
/**
 * Logins on each login side before the login comparison, with users whose hashes have cost
 * WARM_UP_COST: the login's code (and PGlite's WebAssembly) compiled by V8's optimizing tiers, as in
 * a node that has served for a while, not the first few hundred logins of a new process.
 */
const WARM_UP_LOGINS = setting('BENCH_WARM_UP_LOGINS', 3000, 0, 100_000, true);
const WARM_UP_COST = 4;
const MAX_WARM_UP_FAILURES = 50;
/** The TOTP login's own code is its second step alone: a third as many warm-up logins with it. */
const WARM_UP_TOTP_LOGINS = Math.ceil(WARM_UP_LOGINS / 3);
/**
 * client_credentials grants on each side before the JWT comparison, and again with opaque tokens
 * before theirs, for the same reason. Without them the first of the four slices measured code
 * still being compiled, Gatehouse's more than the bare provider's (its own layers besides
 * oidc-provider's, whose code the two bare providers also warm for each other): on an AMD machine
 * Gatehouse against the bare provider signing as it does was 0.62–0.70 without them and
 * 0.76–0.78 with them (docs/BENCHMARKS.md, twenty-sixth session).
 */
const WARM_UP_GRANTS = setting('BENCH_WARM_UP_GRANTS', 5000, 0, 1_000_000, true);
/** Users with TOTP: more than a phase's logins (each may log in once per 30 s step). */
const TOTP_USERS = setting('BENCH_TOTP_USERS', 1500, 50, 20000, true);

const CC_TARGET = 0.9;
const OPAQUE_TARGET = 0.5;
const P99_TARGET_MS = 25;
const LOGIN_TARGET = 0.85;

// ---------------------------------------------------------------------------------------------

interface Side {
  label: string;
  op: (worker: number) => Promise<void>;
  queries?: () => number;
}

/**
 * Sides measured in turns: ROUNDS rounds, each running every side for PHASE_SECONDS / ROUNDS
 * seconds (after a short warm-up), the first side changing every round. Each side starts with
 * one checked call (a failure there is a broken bench; `queries` counts what it asked of the
 * database).
 */
async function interleaved(sides: Side[], minSliceSeconds = 1): Promise<PhaseResult[]> {
  // Slices long enough for several operations each (a login under load takes seconds).
  const rounds = Math.max(1, Math.min(ROUNDS, Math.floor(PHASE_SECONDS / minSliceSeconds)));
  const perSide: PhaseResult[][] = sides.map(() => []);
  const queries: (number | undefined)[] = [];
  for (const side of sides) {
    const before = side.queries?.();
    await side.op(0);
    queries.push(side.queries && before !== undefined ? side.queries() - before : undefined);
  }
  process.stdout.write(`  ${sides.map((s) => s.label).join(' | ')} `);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < sides.length; k++) {
      const i = (round + k) % sides.length;
      perSide[i].push(await runPhase(sides[i].label, PHASE_SECONDS / rounds, CONCURRENCY, sides[i].op, SLICE_WARMUP_SECONDS, true));
      process.stdout.write('.');
    }
  }
  const results = sides.map((side, i) => ({ ...mergeResults(side.label, perSide[i]), queries: queries[i] }));
  for (const r of results) {
    if (r.ok === 0) throw new Error(`${r.label}: nothing completed in the measuring windows (${r.failed} failed: ${r.firstError ?? 'none'}; if none failed, the machine is too busy: raise BENCH_SECONDS)`);
  }
  process.stdout.write(` ${results.map((r) => `${r.perSecond.toFixed(1)}/s`).join(' | ')}\n`);
  return results;
}

/**
 * `count` operations (logins unless `unit` says otherwise), CONCURRENCY in flight, before a side
 * is measured; prints the CPU per operation of each fifth of them, which shows how far from its
 * steady state a new process is.
 */
async function warmUp(label: string, count: number, op: (worker: number) => Promise<unknown>, unit = { one: 'login', many: `logins at cost ${WARM_UP_COST}` }) {
  if (count === 0) return;
  process.stdout.write(`  warm-up, ${label}: ${count} ${unit.many}, CPU ms per ${unit.one} by fifth:`);
  const started = performance.now();
  let issued = 0;
  let failed = 0;
  let firstError: unknown;
  for (let fifth = 0; fifth < 5; fifth++) {
    const until = Math.round((count * (fifth + 1)) / 5);
    const done0 = issued;
    const cpu0 = process.cpuUsage();
    await Promise.all(Array.from({ length: CONCURRENCY }, async (_, worker) => {
      while (issued < until) {
        issued++;
        // As in a measured phase, a stray failure (a connection reset) is counted, not fatal.
        await op(worker).catch((err: unknown) => {
          firstError ??= err;
          if (++failed > MAX_WARM_UP_FAILURES) throw new Error(`${label}: ${failed} warm-up ${unit.one}s failed, the first: ${String((firstError as Error)?.message ?? firstError)}`);
        });
      }
    }));
    const cpu = process.cpuUsage(cpu0);
    if (issued > done0) process.stdout.write(` ${((cpu.user + cpu.system) / 1000 / (issued - done0)).toFixed(1)}`);
  }
  process.stdout.write(` (${((performance.now() - started) / 1000).toFixed(1)} s${failed ? `; ${failed} failed` : ''})\n`);
}

function verdict(name: string, ratio: number, target: number) {
  const mark = ratio >= target ? 'PASS' : 'MISS';
  return `${name.padEnd(48)} ${ratio.toFixed(2)}  (target >= ${target.toFixed(2)})  ${mark}`;
}

/** `phases`: all (the default), the logins alone (phase 4) or the grants alone (phases 1-3). */
async function throughput({ phases = 'all' as 'all' | 'logins' | 'grants' } = {}) {
  const loginsOnly = phases === 'logins';
  configureLogger({ silent: true });
  const t0 = performance.now();

  console.log(`Gatehouse bench: ${phases === 'all' ? 'throughput' : phases}`);
  const loadBefore = loadavg();
  const bench = await startBenchGatehouse({ bcryptCost: BCRYPT_COST });
  const stops: (() => Promise<void>)[] = [() => bench.stop()];
  try {
    const { gh } = bench;
    const tenant = await loadTestTenant(gh, 'bench', 'Bench');
    const ghEndpoints = await discover(`${gh.url}/t/${tenant.slug}`);
    const service = await serviceClient(gh, tenant);
    const web = await webClient(gh, tenant);
    const { users, storedCost } = await benchUsers(gh, tenant, CONCURRENCY);
    const warmUpUsers = (await benchUsers(gh, tenant, CONCURRENCY, { warmUpCost: WARM_UP_COST })).users;
    if (storedCost !== BCRYPT_COST) throw new Error(`stored password hashes have cost ${storedCost}, expected ${BCRYPT_COST}`);
    let queryCount = 0;
    gh.deps.db.on('query', () => queryCount++);
    const queries = () => queryCount;

    const alg = await checkAccessToken('Gatehouse', ghEndpoints.token, ghEndpoints.jwks, ghEndpoints.issuer, service.clientId, service.secret);
    const bare = await startBareProvider(alg, tenant.settings.access_token_ttl, { user: users[0], cost: BCRYPT_COST, warmUp: { user: warmUpUsers[0], cost: WARM_UP_COST } });
    stops.unshift(bare.stop);
    const bareEndpoints = await discover(bare.issuer);
    const bareAlg = await checkAccessToken('bare oidc-provider', bareEndpoints.token, bareEndpoints.jwks, bare.issuer, bare.clientId, bare.secret);
    // The same bare provider with Gatehouse's way of signing: what Gatehouse adds, apart from signing.
    const bareNative = await startBareProvider(alg, tenant.settings.access_token_ttl, undefined, { nativeSigning: true });
    stops.unshift(bareNative.stop);
    const bareNativeEndpoints = await discover(bareNative.issuer);
    await checkAccessToken('bare oidc-provider (node:crypto signing)', bareNativeEndpoints.token, bareNativeEndpoints.jwks, bareNative.issuer, bareNative.clientId, bareNative.secret);
    const requestsPerLogin = (await passwordLogin(ghEndpoints, web, users[0])).requests;
    const requestsPerBareLogin = (await passwordLogin(bareEndpoints, bare.web, users[0])).requests;
    const withTotp = await totpUsers(gh, tenant, TOTP_USERS);
    let nextTotpUser = 0;
    const warmUpTotp = await totpUsers(gh, tenant, WARM_UP_TOTP_LOGINS, { warmUpCost: WARM_UP_COST });
    const requestsPerTotpLogin = (await passwordLogin(ghEndpoints, web, withTotp[nextTotpUser++])).requests;
    // The bench's database is minutes old: give the planner the statistics any database in
    // service has (autovacuum, or db/statistics.ts's rounds), not the guesses of its first minute.
    await gh.deps.db.raw('analyze');

    const rawPassword = randomBytes(18).toString('base64url');
    const rawHash = await bcrypt.hash(rawPassword, BCRYPT_COST);

    console.log(`  storage: ${bench.storage}; kv: ${bench.kv}`);
    console.log(`  access tokens: RFC 9068 JWT, ${alg} (Gatehouse) / ${bareAlg} (bare), or opaque; BCRYPT_COST ${BCRYPT_COST} (stored hashes: cost ${storedCost})`);
    console.log(`  ${PHASE_SECONDS} s per side in ${ROUNDS} interleaved slices (each after ${SLICE_WARMUP_SECONDS} s warm-up), ${CONCURRENCY} in flight`);

    const sockets = { maxSockets: CONCURRENCY };
    const clients = loginsOnly ? undefined : await clientCredentialsPhases();
    async function clientCredentialsPhases() {
      const jwtSides = [
        { label: 'client_credentials JWT: bare oidc-provider', op: clientCredentialsOp(bareEndpoints.token, bare.clientId, bare.secret, sockets) },
        { label: 'client_credentials JWT: bare, node:crypto signing', op: clientCredentialsOp(bareNativeEndpoints.token, bareNative.clientId, bareNative.secret, sockets) },
        { label: 'client_credentials JWT: Gatehouse', op: clientCredentialsOp(ghEndpoints.token, service.clientId, service.secret, sockets), queries },
      ];
      const opaqueSides = [
        { label: 'client_credentials opaque: bare oidc-provider', op: clientCredentialsOp(bareEndpoints.token, bare.clientId, bare.secret, { ...sockets, opaque: true }) },
        { label: 'client_credentials opaque: Gatehouse', op: clientCredentialsOp(ghEndpoints.token, service.clientId, service.secret, { ...sockets, opaque: true }), queries },
      ];
      const warmUpGrants = async (sides: typeof jwtSides) => {
        for (const side of sides) await warmUp(side.label.replace('client_credentials ', ''), WARM_UP_GRANTS, () => side.op(), { one: 'grant', many: 'grants' });
      };
      await warmUpGrants(jwtSides);
      const [bareCc, bareNativeCc, ghCc] = await interleaved(jwtSides);
      await warmUpGrants(opaqueSides);
      const [bareOpaque, ghOpaque] = await interleaved(opaqueSides);
      // Latency below saturation: half of the peak just measured, at a fixed arrival rate.
      const halfPeak = Math.max(1, Math.round(ghCc.perSecond / 2));
      process.stdout.write(`  client_credentials JWT at ${halfPeak}/s (half the peak) ...`);
      // The collector's work in that window, for the p99's sake: a major GC there is the usual stall.
      const gcs = watchGC();
      // From a thread of its own, as an outside client: the load generator's garbage and stalls
      // are not Gatehouse's (until the twenty-first session it ran on the main thread, beside it).
      const atHalf = await fixedRateFromThread(`client_credentials JWT at ${halfPeak}/s: Gatehouse`, PHASE_SECONDS, halfPeak, {
        ...clientCredentialsRequest(ghEndpoints.token, service.clientId, service.secret),
        expectFields: { scope: API_SCOPE, token_type: 'Bearer' },
      });
      const gc = gcs.stop();
      process.stdout.write(` p50 ${atHalf.p50.toFixed(1)} ms, p99 ${atHalf.p99.toFixed(1)} ms; ${gc.major} major GCs (longest ${gc.majorLongestMs.toFixed(0)} ms), ${gc.minor} scavenges (${gc.minorMs.toFixed(0)} ms)\n`);
      return { bareCc, bareNativeCc, ghCc, bareOpaque, ghOpaque, halfPeak, atHalf };
    }
    const loginResults = phases === 'grants' ? undefined : await loginPhases();
    async function loginPhases() {
      await warmUp(`bare oidc-provider`, WARM_UP_LOGINS, (_worker) => passwordLogin(bareEndpoints, bare.web, warmUpUsers[0]));
      await warmUp(`Gatehouse`, WARM_UP_LOGINS, (worker) => passwordLogin(ghEndpoints, web, warmUpUsers[worker % warmUpUsers.length]));
      await warmUp(`Gatehouse, password + TOTP`, WARM_UP_TOTP_LOGINS, (_worker) => passwordLogin(ghEndpoints, web, warmUpTotp.pop()!));
      // Statistics again, with the warm-up's sessions, grants and tokens in the tables.
      await gh.deps.db.raw('analyze');
      const [rawBcrypt, bareLogins, logins, totpLogins] = await interleaved([
        {
          label: `bcrypt.compare, cost ${BCRYPT_COST}: raw`,
          op: async () => {
            if (!(await bcrypt.compare(rawPassword, rawHash))) throw new Error('bcrypt.compare returned false');
          },
        },
        { label: `password login (${requestsPerBareLogin} requests): bare oidc-provider`, op: async () => void (await passwordLogin(bareEndpoints, bare.web, users[0])) },
        { label: `password login (${requestsPerLogin} requests): Gatehouse`, op: async (worker) => void (await passwordLogin(ghEndpoints, web, users[worker % users.length])), queries },
        {
          label: `password + TOTP login (${requestsPerTotpLogin} requests): Gatehouse`,
          op: async () => {
            if (nextTotpUser >= withTotp.length) throw new Error('TOTP user pool used up: raise BENCH_TOTP_USERS');
            await passwordLogin(ghEndpoints, web, withTotp[nextTotpUser++]);
          },
          queries,
        },
      ], 5);
      return { rawBcrypt, bareLogins, logins, totpLogins };
    }

    const rows = [
      ...(clients ? [clients.bareCc, clients.bareNativeCc, clients.ghCc, clients.bareOpaque, clients.ghOpaque, clients.atHalf] : []),
      ...(loginResults ? [loginResults.rawBcrypt, loginResults.bareLogins, loginResults.logins, loginResults.totpLogins] : []),
    ];
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    console.log('');
    console.log(`machine: ${availableParallelism()} cores available (${cpus().length} logical CPUs, ${cpu}); node ${process.version}; ${process.platform}/${process.arch}; UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}; oidc-provider's patch (patches/) ${oidcProviderPatch()}; V8 ${SERVING_V8_FLAGS.join(' ')} (src/ops/v8-tuning.ts)`);
    console.log(`load average (1, 5, 15 min): ${loadBefore.map((n) => n.toFixed(2)).join(' ')} before, ${loadavg().map((n) => n.toFixed(2)).join(' ')} after (the bench itself accounts for about 2; other work on the machine skews absolute figures, less so the ratios)`);
    console.log('');
    console.log(table(rows));
    console.log(`per second: completions in the measured windows (failed also counts the warm-ups). p50/p99: latency; at a fixed rate, from when each request was due.`);
    console.log(`CPU cores: CPU time of this whole process (servers, load generator, all threads) per second, out of ${availableParallelism()}. machine cores: the`);
    console.log('same for the whole machine (with the local PostgreSQL and Redis). loop busy: main-thread event-loop utilisation.');
    console.log('queries/op: database statements of one call (a background statistics check, db/statistics.ts, every 5 s, can add a few).');
    for (const r of rows) if (r.firstError) console.log(`  ! ${r.label}: first error: ${r.firstError}`);
    console.log('');
    if (clients) {
      const { bareCc, bareNativeCc, ghCc, bareOpaque, ghOpaque, halfPeak, atHalf } = clients;
      console.log(verdict('client_credentials JWT     Gatehouse / bare', ghCc.perSecond / bareCc.perSecond, CC_TARGET));
      // No target: against a bare provider that signs as Gatehouse does, what the rest of Gatehouse costs.
      console.log(`${'client_credentials JWT     Gatehouse / bare, same signing'.padEnd(48)} ${(ghCc.perSecond / bareNativeCc.perSecond).toFixed(2)}  (Gatehouse's own cost, signing aside)`);
      console.log(verdict('client_credentials opaque  Gatehouse / bare', ghOpaque.perSecond / bareOpaque.perSecond, OPAQUE_TARGET));
      console.log(`${`client_credentials p99 at ${halfPeak}/s (half peak)`.padEnd(48)} ${atHalf.p99.toFixed(1)} ms  (target < ${P99_TARGET_MS} ms)  ${atHalf.p99 < P99_TARGET_MS ? 'PASS' : 'MISS'}`);
    }
    if (loginResults) {
      const { rawBcrypt, bareLogins, logins, totpLogins } = loginResults;
      console.log(verdict('password logins     logins / raw bcrypt', logins.perSecond / rawBcrypt.perSecond, LOGIN_TARGET));
      // A code check costs an HMAC and one kv write, never a second bcrypt: the same target holds.
      console.log(verdict('password + TOTP     logins / raw bcrypt', totpLogins.perSecond / rawBcrypt.perSecond, LOGIN_TARGET));
      // No target: what the same login costs on oidc-provider alone (in memory, two bare pages), the
      // ceiling for any identity provider built on it, and how much of it Gatehouse keeps.
      console.log(`${'bare oidc-provider logins / raw bcrypt'.padEnd(48)} ${(bareLogins.perSecond / rawBcrypt.perSecond).toFixed(2)}  (the ceiling on this machine)`);
      console.log(`${'password logins     Gatehouse / bare'.padEnd(48)} ${(logins.perSecond / bareLogins.perSecond).toFixed(2)}`);
    }
    console.log('');
    console.log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    for (const stop of stops) await stop().catch((err) => console.error('cleanup failed:', err));
  }
}

async function main() {
  // As the server runs (src/main.ts), before the servers start: Gatehouse and the bare
  // provider share this process, so both sides run with it.
  tuneV8ForServing();
  const [mode = 'throughput', ...args] = process.argv.slice(2);
  if (mode === 'throughput') return throughput();
  if (mode === 'logins') return throughput({ phases: 'logins' });
  if (mode === 'grants') return throughput({ phases: 'grants' });
  if (mode === 'scale') return (await import('./scale.js')).scale(args);
  if (mode === 'soak') return (await import('./soak.js')).soak(args);
  if (mode === 'hashing') return (await import('./hashing.js')).hashing();
  throw new Error(`unknown bench mode ${mode}: use throughput (the default), logins, grants, scale, soak or hashing`);
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    console.error('bench failed:', err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
