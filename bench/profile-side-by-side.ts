/**
 * Where a token grant's extra time goes, Gatehouse against the bare provider that signs as it does
 * (the bench's "same signing" line), measured so that the machine's drift cancels out:
 *   node --import tsx --import ./bench/use-dist.mjs bench/profile-side-by-side.ts
 *
 * Both servers in one process, client_credentials grants (JWT) in alternating slices of
 * SIDE_SLICE_MS (the order turned every round, as the bench's comparisons), under one CPU profile.
 * Each sample belongs to the side whose slice it fell in, so a function's time per grant is
 * compared between two sides measured within a second of each other. Separate profiles of each
 * side, minutes apart, differ by more than the difference sought on a machine whose speed drifts
 * (docs/BENCHMARKS.md, twenty-seventh session). Also the scavenges of each side's slices.
 *
 * SIDE_ROUNDS (default 20) rounds, 8 in flight; each side first serves BENCH_WARM_UP_GRANTS grants.
 * Prints the time per grant by package and the functions whose time differs most. SIDE_OUT=file:
 * the whole profile (DevTools' format), with the slices in file.slices.json.
 *
 * SIDE_OP=login compares complete password logins instead (the bench's login, bcrypt cost 4 on
 * both sides so the code around the hash shows; BENCH_WARM_UP_LOGINS, default 2,000, first).
 * Only the main thread is profiled: the hash runs on other threads on both sides. With
 * DATABASE_URL and REDIS_URL, the database's and Redis's own CPU is not in it either.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { Profiler, Runtime } from 'node:inspector';
import { CLI_ACTOR } from '../src/deps.js';
import { createTenant } from '../src/domain/tenants/tenants.service.js';
import { configureLogger } from '../src/log/logger.js';
import { tuneV8ForServing } from '../src/ops/v8-tuning.js';
import {
  benchUsers, clientCredentialsOp, discover, loadTestTenant, passwordLogin, serviceClient, setting, startBareProvider, startBenchGatehouse, watchGC, webClient,
} from './harness.js';

type CallFrame = Runtime.CallFrame;

const ROUNDS = setting('SIDE_ROUNDS', 20, 2, 200, true);
const SLICE_MS = setting('SIDE_SLICE_MS', 500, 100, 5000, true);
const LOGINS = process.env.SIDE_OP === 'login';
if (process.env.SIDE_OP && !LOGINS) throw new Error('SIDE_OP: login, or unset for client_credentials grants');
const WARM_UP = LOGINS ? setting('BENCH_WARM_UP_LOGINS', 2000, 0, 100_000, true) : setting('BENCH_WARM_UP_GRANTS', 5000, 0, 1_000_000, true);
const UNIT = LOGINS ? 'login' : 'grant';
const IN_FLIGHT = 8;

interface Side {
  name: string;
  op: (worker: number) => Promise<void>;
  /** Operations (grants or logins) completed in the measured slices. */
  grants: number;
  /** [start, end) of each measured slice, in µs of the monotonic clock the profiler stamps samples with. */
  slices: [number, number][];
  scavenges: number;
  scavengeMs: number;
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

async function slice(side: Side, ms: number, measured: boolean) {
  const end = Date.now() + ms;
  const gcs = watchGC();
  const start = nowUs();
  let grants = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, worker) => {
    while (Date.now() < end) {
      await side.op(worker);
      grants++;
    }
  }));
  const gc = gcs.stop();
  if (!measured) return;
  side.grants += grants;
  side.slices.push([start, nowUs()]);
  side.scavenges += gc.minor;
  side.scavengeMs += gc.minorMs;
}

/** Self time per key and side, from the samples inside each side's slices. */
function split(profile: Profiler.Profile, sides: Side[], keyOf: (frame: CallFrame) => string) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const times = sides.map(() => new Map<string, number>());
  const sideAt = (t: number) => sides.findIndex((s) => s.slices.some(([a, b]) => t >= a && t < b));
  let t = profile.startTime;
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < (profile.samples ?? []).length; i++) {
    t += deltas[i];
    const side = sideAt(t);
    if (side < 0) continue;
    // A sample stands for the time until the next one.
    const key = keyOf(nodes.get(profile.samples![i])!.callFrame);
    times[side].set(key, (times[side].get(key) ?? 0) + (deltas[i + 1] ?? 0));
  }
  return times;
}

const shortUrl = (url: string) => url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, 'gatehouse:');
const packageOf = (frame: CallFrame) => {
  const url = shortUrl(frame.url);
  if (url.startsWith('gatehouse:')) return 'gatehouse (dist/)';
  if (url.startsWith('node:')) return 'node: (JavaScript)';
  if (frame.url.includes('node_modules/')) return url.split('/')[0];
  return url || frame.functionName; // native functions and V8's own entries: (garbage collector), (idle), ...
};
const functionOf = (frame: CallFrame) => `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;

function report(title: string, times: Map<string, number>[], sides: Side[], rows: number) {
  const perGrant = (i: number, key: string) => (times[i].get(key) ?? 0) / sides[i].grants;
  const keys = [...new Set(times.flatMap((m) => [...m.keys()]))];
  keys.sort((a, b) => Math.abs(perGrant(0, b) - perGrant(1, b)) - Math.abs(perGrant(0, a) - perGrant(1, a)));
  console.log(`\n${title} (µs per ${UNIT}: ${sides[0].name}, ${sides[1].name}, difference)`);
  for (const key of keys.slice(0, rows)) {
    const [a, b] = [perGrant(0, key), perGrant(1, key)];
    console.log(`${a.toFixed(1).padStart(8)} ${b.toFixed(1).padStart(8)} ${(a - b).toFixed(1).padStart(8)}  ${key}`);
  }
}

configureLogger({ silent: true });
tuneV8ForServing(); // as src/main.ts does
const bench = await startBenchGatehouse({ bcryptCost: 4 });
const stops: (() => Promise<void>)[] = [bench.stop];
try {
  // Logins: the tenant's per-address and per-account limits off, as the bench's.
  const tenant = LOGINS ? await loadTestTenant(bench.gh, 'side') : await createTenant(bench.gh.deps, { slug: `side-${randomBytes(3).toString('hex')}` }, CLI_ACTOR);
  const sides: Side[] = (await (LOGINS ? loginSides() : grantSides())).map((s) => ({ ...s, grants: 0, slices: [], scavenges: 0, scavengeMs: 0 }));
  async function grantSides() {
    const client = await serviceClient(bench.gh, tenant);
    const bare = await startBareProvider('RS256', 3600, undefined, { nativeSigning: true });
    stops.unshift(bare.stop);
    return [
      { name: 'Gatehouse', op: clientCredentialsOp((await discover(`${bench.gh.url}/t/${tenant.slug}`)).token, client.clientId, client.secret, { maxSockets: IN_FLIGHT }) },
      { name: 'bare', op: clientCredentialsOp((await discover(bare.issuer)).token, bare.clientId, bare.secret, { maxSockets: IN_FLIGHT }) },
    ];
  }
  async function loginSides() {
    const web = await webClient(bench.gh, tenant);
    const { users } = await benchUsers(bench.gh, tenant, IN_FLIGHT);
    const bare = await startBareProvider('RS256', 3600, { user: users[0], cost: 4 }, { nativeSigning: true });
    stops.unshift(bare.stop);
    const [gh, bareEndpoints] = [await discover(`${bench.gh.url}/t/${tenant.slug}`), await discover(bare.issuer)];
    return [
      { name: 'Gatehouse', op: async (worker: number) => void (await passwordLogin(gh, web, users[worker])) },
      { name: 'bare', op: async () => void (await passwordLogin(bareEndpoints, bare.web, users[0])) },
    ];
  }
  for (const side of sides) {
    let left = WARM_UP;
    await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, worker) => {
      while (left-- > 0) await side.op(worker);
    }));
  }
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of round % 2 ? [...sides].reverse() : sides) await slice(side, SLICE_MS, true);
  }
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  if (process.env.SIDE_OUT) {
    writeFileSync(process.env.SIDE_OUT, JSON.stringify(profile));
    writeFileSync(`${process.env.SIDE_OUT}.slices.json`, JSON.stringify(sides.map(({ name, grants, slices }) => ({ name, grants, slices }))));
  }
  const rate = (s: Side) => s.grants / (s.slices.reduce((sum, [a, b]) => sum + b - a, 0) / 1e6);
  console.log(`${ROUNDS} rounds of ${SLICE_MS} ms per side, ${IN_FLIGHT} in flight, profiled (200 µs sampling); node ${process.version}`);
  for (const s of sides) {
    console.log(`${s.name.padEnd(10)} ${s.grants} ${UNIT}s, ${rate(s).toFixed(0)}/s; scavenges: ${((s.scavenges / s.grants) * 1000).toFixed(1)} per 1000 ${UNIT}s, ${((s.scavengeMs * 1000) / s.grants).toFixed(1)} µs per ${UNIT}`);
  }
  console.log(`Gatehouse / bare: ${(rate(sides[0]) / rate(sides[1])).toFixed(3)}`);
  const byPackage = split(profile, sides, packageOf);
  const total = (i: number) => [...byPackage[i].values()].reduce((a, b) => a + b, 0) / sides[i].grants;
  console.log(`main thread per ${UNIT}: ${sides.map((s, i) => `${s.name} ${total(i).toFixed(1)} µs`).join(', ')}`);
  report('by package', byPackage, sides, 12);
  report('by function', split(profile, sides, functionOf), sides, Number(process.env.SIDE_ROWS ?? 40));
} finally {
  for (const stop of stops) await stop();
}
