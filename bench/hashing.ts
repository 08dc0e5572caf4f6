/**
 * `npm run bench -- hashing`: what password hashing does to the event loop.
 *
 * Runs bcrypt.compare bursts (BENCH_CONCURRENCY in flight, default 8, at BCRYPT_COST, default 11)
 * through each hasher in turn, interleaved (BENCH_ROUNDS slices of BENCH_SECONDS / rounds each),
 * while a 1 ms timer measures how late the event loop runs (perf_hooks.monitorEventLoopDelay).
 * Hashers: raw `bcrypt.compare` (libuv's thread pool, at the event loop's priority) and
 * Gatehouse's HashPool (piscina threads at nice +10). The property kept: under a burst, the event
 * loop's delay stays small with HashPool while the compares per second stay close to raw bcrypt.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import bcrypt from 'bcrypt';
import { HashPool } from '../src/security/hash-pool.js';
import { setting } from './harness.js';

export interface Hasher {
  label: string;
  compare(password: string, hash: string): Promise<boolean>;
}

interface Slice {
  ok: number;
  seconds: number;
  delayP99: number;
  delayMax: number;
}

async function slice(hasher: Hasher, seconds: number, concurrency: number, password: string, hash: string): Promise<Slice> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const end = performance.now() + seconds * 1000;
  let ok = 0;
  histogram.enable();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      if (!(await hasher.compare(password, hash))) throw new Error(`${hasher.label}: compare returned false`);
      if (performance.now() <= end) ok++;
    }
  }));
  histogram.disable();
  return { ok, seconds, delayP99: histogram.percentile(99) / 1e6, delayMax: histogram.max / 1e6 };
}

export async function compareHashers(hashers: Hasher[]) {
  const cost = setting('BCRYPT_COST', 11, 4, 16, true);
  const seconds = setting('BENCH_SECONDS', 10, 2, 60);
  const rounds = setting('BENCH_ROUNDS', 4, 1, 10, true);
  const concurrency = setting('BENCH_CONCURRENCY', 8, 1, 64);
  const password = randomBytes(18).toString('base64url');
  const hash = await bcrypt.hash(password, cost);
  console.log(`Gatehouse bench: hashing (cost ${cost}, ${concurrency} in flight, ${seconds} s per hasher in ${rounds} slices); load average ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
  for (const h of hashers) await h.compare(password, hash); // threads started, modules loaded
  const parts: Slice[][] = hashers.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < hashers.length; k++) {
      const i = (round + k) % hashers.length;
      parts[i].push(await slice(hashers[i], seconds / rounds, concurrency, password, hash));
    }
  }
  console.log(`  ${'hasher'.padEnd(40)} ${'compares/s'.padStart(10)}  ${'ratio'.padStart(5)}  event-loop delay p99 (worst slice)  max`);
  const base = parts[0].reduce((n, s) => n + s.ok, 0) / parts[0].reduce((n, s) => n + s.seconds, 0);
  hashers.forEach((h, i) => {
    const rate = parts[i].reduce((n, s) => n + s.ok, 0) / parts[i].reduce((n, s) => n + s.seconds, 0);
    const p99 = Math.max(...parts[i].map((s) => s.delayP99));
    const max = Math.max(...parts[i].map((s) => s.delayMax));
    console.log(`  ${h.label.padEnd(40)} ${rate.toFixed(1).padStart(10)}  ${(rate / base).toFixed(2).padStart(5)}  ${`${p99.toFixed(1)} ms`.padStart(34)}  ${max.toFixed(0)} ms`);
  });
  console.log(`  load average after: ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
}

export async function hashing(extra: Hasher[] = []) {
  const pool = new HashPool();
  try {
    await compareHashers([{ label: 'bcrypt.compare (libuv thread pool)', compare: (p, h) => bcrypt.compare(p, h) }, { label: 'HashPool (piscina, nice +10)', compare: (p, h) => pool.compare(p, h) }, ...extra]);
  } finally {
    await pool.close();
  }
}
