/**
 * `npm run bench -- scale [--tenants N] [--cache N] [--sample N]`: many tenants on one node.
 *
 * Creates N tenants (default 10,000: a tenant row, an RS256 signing key, the built-in role, an
 * audit event) through the tenant service, 8 at a time, then measures on a sample of them, one
 * request at a time: a cold token (the node builds the tenant's provider, loads its keys and the
 * client) and warm ones; then touches every tenant's discovery document once, which fills and
 * then churns the node's provider cache (tenancy/registry.ts, an LRU of `--cache` tenants,
 * default 1,000), sampling RSS on the way; then cold (evicted) and warm discovery on the sample.
 * DATABASE_URL: a fresh database on that server (dropped at the end); otherwise PGlite.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { CLI_ACTOR } from '../src/deps.js';
import { createTenant } from '../src/domain/tenants/tenants.service.js';
import type { Tenant } from '../src/domain/tenants/tenants.types.js';
import { configureLogger } from '../src/log/logger.js';
import { DEFAULT_TENANT_CACHE_SIZE } from '../src/tenancy/registry.js';
import { clientCredentialsOp, quantile, serviceClient, startBenchGatehouse } from './harness.js';

function flag(args: string[], name: string, fallback: number, min: number, max: number) {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const n = Number(args[at + 1]);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} takes a whole number from ${min} to ${max}`);
  return n;
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
/** After a full collection when the process runs with --expose-gc (npm run bench does), so growth means retained memory. */
const collect = () => (globalThis as { gc?: () => void }).gc?.();
const rss = () => {
  collect();
  return process.memoryUsage().rss;
};
const ms = (v: number) => `${v.toFixed(1)} ms`;

/** Runs `work` over the items, `concurrency` at a time, in order. */
async function pool<T>(items: T[], concurrency: number, work: (item: T, index: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i], i);
    }
  }));
}

/** Each call of `op` timed one after another; sorted latencies (ms). */
async function timed<T>(items: T[], op: (item: T) => Promise<void>) {
  const out: number[] = [];
  for (const item of items) {
    const t0 = performance.now();
    await op(item);
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

const summary = (label: string, sorted: number[]) => `  ${label.padEnd(44)} p50 ${ms(quantile(sorted, 0.5)).padStart(9)}  p99 ${ms(quantile(sorted, 0.99)).padStart(9)}  (${sorted.length} requests)`;

async function discovery(url: string) {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`discovery ${url}: ${res.status}`);
  await res.arrayBuffer();
}

export async function scale(args: string[]) {
  const count = flag(args, '--tenants', 10_000, 10, 1_000_000);
  const cacheSize = flag(args, '--cache', DEFAULT_TENANT_CACHE_SIZE, 1, 1_000_000);
  const sampleSize = Math.min(flag(args, '--sample', 200, 1, 10_000), Math.max(1, count - cacheSize));
  configureLogger({ silent: true });
  console.log(`Gatehouse bench: scale (${count} tenants, provider cache ${cacheSize}, sample ${sampleSize}; memory figures ${typeof (globalThis as { gc?: unknown }).gc === 'function' ? 'after a full GC' : 'without GC (run with --expose-gc)'})`);
  console.log(`  load average before: ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
  const bench = await startBenchGatehouse({ bcryptCost: 4, tenantCacheSize: cacheSize });
  try {
    const { gh } = bench;
    console.log(`  storage: ${bench.storage}; kv: ${bench.kv}`);
    const rssStart = rss();
    console.log(`  RSS at start: ${mb(rssStart)}`);

    // 1. Tenant creation.
    const run = randomBytes(2).toString('hex');
    const slugs = Array.from({ length: count }, (_, i) => `s${run}-${i}`);
    const tenants: Tenant[] = new Array(count);
    const created0 = performance.now();
    let lastReport = created0;
    await pool(slugs, 8, async (slug, i) => {
      tenants[i] = await createTenant(gh.deps, { slug }, CLI_ACTOR);
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        console.log(`    ${tenants.filter(Boolean).length} tenants, ${(tenants.filter(Boolean).length / ((lastReport - created0) / 1000)).toFixed(1)}/s, RSS ${mb(rss())}`);
      }
    });
    const createSeconds = (performance.now() - created0) / 1000;
    console.log(`  created ${count} tenants in ${createSeconds.toFixed(1)} s: ${(count / createSeconds).toFixed(1)} tenants/s (8 at a time); RSS ${mb(rss())}`);

    // The sample: spread over the tenants the sweep below evicts again (all but its last cacheSize).
    const evictable = Math.max(1, count - cacheSize);
    const sample = Array.from({ length: sampleSize }, (_, i) => Math.floor((i * evictable) / sampleSize));
    const clients = new Map<number, ReturnType<typeof clientCredentialsOp>>();
    for (const i of sample) {
      const client = await serviceClient(gh, tenants[i]);
      clients.set(i, clientCredentialsOp(`${gh.url}/t/${tenants[i].slug}/token`, client.clientId, client.secret, { maxSockets: 1 }));
    }
    // Registering a client built each sample tenant's provider: start them cold again.
    await pool(slugs.filter((_, i) => !clients.has(i)).slice(0, cacheSize + 10), 8, (slug) => discovery(`${gh.url}/t/${slug}/.well-known/openid-configuration`));

    // 2. Tokens: cold (provider, keys and client loaded on this request), then warm.
    const coldToken = await timed(sample, (i) => clients.get(i)!());
    const warmToken = await timed(sample.flatMap((i) => [i, i, i, i, i]), (i) => clients.get(i)!());

    // 3. Every tenant's discovery once: the cache fills, then churns; RSS along the way.
    console.log(`  discovery of every tenant, 8 at a time (RSS every ${Math.ceil(count / 10)} tenants):`);
    const sweep0 = performance.now();
    const rssSamples: number[] = [];
    let done = 0;
    await pool(slugs, 8, async (slug) => {
      await discovery(`${gh.url}/t/${slug}/.well-known/openid-configuration`);
      if (++done % Math.ceil(count / 10) === 0) {
        const now = rss();
        rssSamples.push(now);
        console.log(`    ${String(done).padStart(7)} tenants  RSS ${mb(now).padStart(7)}  heap ${mb(process.memoryUsage().heapUsed).padStart(7)}  providers kept ${gh.registry.size}`);
      }
    });
    const sweepSeconds = (performance.now() - sweep0) / 1000;
    console.log(`  ${count} discovery documents in ${sweepSeconds.toFixed(1)} s (${(count / sweepSeconds).toFixed(0)}/s, mostly cold)`);

    // 4. Discovery: cold (evicted by the sweep), then warm.
    const coldDiscovery = await timed(sample, (i) => discovery(`${gh.url}/t/${slugs[i]}/.well-known/openid-configuration`));
    const warmDiscovery = await timed(sample.flatMap((i) => [i, i, i, i, i]), (i) => discovery(`${gh.url}/t/${slugs[i]}/.well-known/openid-configuration`));

    console.log('');
    console.log(`Results (${count} tenants; one request at a time; load average now ${loadavg().map((n) => n.toFixed(2)).join(' ')}):`);
    console.log(`  tenant creation                              ${(count / createSeconds).toFixed(1)} tenants/s`);
    console.log(summary('token (client_credentials JWT), cold tenant', coldToken));
    console.log(summary('token (client_credentials JWT), warm', warmToken));
    console.log(summary('discovery, cold tenant', coldDiscovery));
    console.log(summary('discovery, warm', warmDiscovery));
    const firstFull = rssSamples[Math.min(rssSamples.length - 1, Math.ceil((cacheSize / count) * 10))];
    console.log(`  RSS: start ${mb(rssStart)}, after creation and sample ${mb(rssSamples[0] ?? rss())} .. end of sweep ${mb(rssSamples.at(-1) ?? rss())}; providers kept ${gh.registry.size} (bound ${cacheSize})`);
    if (firstFull !== undefined) {
      const growth = (rssSamples.at(-1)! - firstFull) / firstFull;
      console.log(`  RSS growth from the cache being full to the end of the sweep: ${(growth * 100).toFixed(0)}% (${growth < 0.15 ? 'bounded' : 'GROWING'})`);
    }
  } finally {
    await bench.stop();
  }
}
