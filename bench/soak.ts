/**
 * `npm run bench -- soak [--minutes N]` (default 10; not part of CI): mixed load on PostgreSQL +
 * Redis for a while, watching memory and latency.
 *
 * Needs DATABASE_URL (a fresh database is created on that server and dropped at the end) and
 * REDIS_URL (a key prefix of its own). Runs at once: complete password logins (2 in flight),
 * refresh-token grants with rotation (2 in flight, each chain started by a login), and
 * client_credentials grants (4 in flight). Every 30 s it prints RSS, heap and the p99 of each
 * kind over those 30 s. At the end it checks: no failed request, and RSS flat (the last third of
 * the samples within 15% of the samples of the second minute; the first minute warms up). Exit
 * code 1 when a check fails.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { configureLogger } from '../src/log/logger.js';
import { HttpBrowser } from './http-browser.js';
import { basicAuth, benchUsers, clientCredentialsOp, discover, loadTestTenant, passwordLogin, quantile, serviceClient, startBenchGatehouse, webClient } from './harness.js';

const SAMPLE_SECONDS = 30;
const BCRYPT_COST = 11;

function minutesFlag(args: string[]) {
  const at = args.indexOf('--minutes');
  if (at < 0) return 10;
  const n = Number(args[at + 1]);
  if (!Number.isFinite(n) || n < 1 || n > 24 * 60) throw new Error('--minutes takes a number from 1 to 1440');
  return n;
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

export async function soak(args: string[]) {
  const minutes = minutesFlag(args);
  if (!process.env.DATABASE_URL || !process.env.REDIS_URL) throw new Error('the soak runs on PostgreSQL + Redis: set DATABASE_URL and REDIS_URL');
  configureLogger({ silent: true });
  console.log(`Gatehouse bench: soak, ${minutes} min (logins 2, refreshes 2, client_credentials 4 in flight; bcrypt cost ${BCRYPT_COST})`);
  console.log(`  load average before: ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
  const bench = await startBenchGatehouse({ bcryptCost: BCRYPT_COST });
  let failedChecks = 0;
  try {
    const { gh } = bench;
    console.log(`  storage: ${bench.storage}; kv: ${bench.kv}`);
    const tenant = await loadTestTenant(gh, 'soak', 'Soak');
    const ep = await discover(`${gh.url}/t/${tenant.slug}`);
    const service = await serviceClient(gh, tenant);
    const web = await webClient(gh, tenant);
    const { users } = await benchUsers(gh, tenant, 4);
    const cc = clientCredentialsOp(ep.token, service.clientId, service.secret, { maxSockets: 4 });
    const rpAuth = basicAuth(web.clientId, web.secret);

    type Kind = 'login' | 'refresh' | 'client_credentials';
    const window = new Map<Kind, number[]>([['login', []], ['refresh', []], ['client_credentials', []]]);
    const totals = new Map<Kind, number>([['login', 0], ['refresh', 0], ['client_credentials', 0]]);
    const errors: string[] = [];
    const deadline = performance.now() + minutes * 60_000;

    const loop = async (kind: Kind, op: () => Promise<void>) => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await op();
          window.get(kind)!.push(performance.now() - t0);
          totals.set(kind, totals.get(kind)! + 1);
        } catch (err) {
          errors.push(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
          if (errors.length > 100) throw new Error(`more than 100 failures; first: ${errors[0]}`);
        }
      }
    };
    const refreshChain = async (worker: number) => {
      let refreshToken = (await passwordLogin(ep, web, users[2 + worker])).tokens.refresh_token!;
      await loop('refresh', async () => {
        const answer = await new HttpBrowser().post(ep.token, { grant_type: 'refresh_token', refresh_token: refreshToken }, rpAuth);
        if (answer.status !== 200) throw new Error(`refresh answered ${answer.status}: ${answer.text().slice(0, 200)}`);
        const body = JSON.parse(answer.text()) as { refresh_token?: string; access_token?: string };
        if (!body.access_token || !body.refresh_token) throw new Error('refresh answer without tokens');
        refreshToken = body.refresh_token;
      });
    };

    const samples: { at: number; rss: number; heap: number; p99: Record<Kind, number> }[] = [];
    const started = performance.now();
    console.log('   min   RSS MB  heap MB   login p99 ms  refresh p99 ms  cc p99 ms   ops in 30 s (login/refresh/cc)  errors');
    const sampler = setInterval(() => {
      const p99 = {} as Record<Kind, number>;
      const counts: number[] = [];
      for (const [kind, values] of window) {
        values.sort((a, b) => a - b);
        p99[kind] = quantile(values, 0.99);
        counts.push(values.length);
        values.length = 0;
      }
      (globalThis as { gc?: () => void }).gc?.(); // with --expose-gc (npm run bench): what is retained
      const mem = process.memoryUsage();
      const at = (performance.now() - started) / 60_000;
      samples.push({ at, rss: mem.rss, heap: mem.heapUsed, p99 });
      console.log(`  ${at.toFixed(1).padStart(4)}  ${mb(mem.rss).padStart(7)}  ${mb(mem.heapUsed).padStart(7)}  ${p99.login.toFixed(1).padStart(13)}  ${p99.refresh.toFixed(1).padStart(14)}  ${p99.client_credentials.toFixed(1).padStart(9)}   ${counts.join('/').padStart(30)}  ${String(errors.length).padStart(6)}`);
    }, SAMPLE_SECONDS * 1000);
    try {
      await Promise.all([
        loop('login', async () => void (await passwordLogin(ep, web, users[0]))),
        loop('login', async () => void (await passwordLogin(ep, web, users[1]))),
        refreshChain(0),
        refreshChain(1),
        ...Array.from({ length: 4 }, () => loop('client_credentials', cc)),
      ]);
    } finally {
      clearInterval(sampler);
    }

    console.log('');
    console.log(`  done: ${[...totals].map(([k, n]) => `${n} ${k}`).join(', ')}; load average now ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
    const check = (ok: boolean, text: string) => {
      if (!ok) failedChecks++;
      console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${text}`);
    };
    check(errors.length === 0, `no failed requests (${errors.length}${errors.length ? `; first: ${errors[0]}` : ''})`);
    const base = samples.filter((s) => s.at > 1 && s.at <= 2.01);
    const tail = samples.slice(Math.floor((samples.length * 2) / 3));
    if (base.length > 0 && tail.length > 0 && samples.length >= 4) {
      const baseRss = Math.max(...base.map((s) => s.rss));
      const tailRss = Math.max(...tail.map((s) => s.rss));
      const growth = (tailRss - baseRss) / baseRss;
      check(growth < 0.15, `RSS flat: highest of the last third ${mb(tailRss)} MB vs highest of minute 2 ${mb(baseRss)} MB (${(growth * 100).toFixed(1)}%, limit 15%)`);
    } else {
      check(false, 'RSS flat: too short to tell (run at least 3 minutes)');
    }
  } finally {
    await bench.stop();
  }
  if (failedChecks > 0) process.exitCode = 1;
}
