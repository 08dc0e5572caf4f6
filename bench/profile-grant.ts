/**
 * client_credentials grants in a loop, for a CPU profile of the token endpoint:
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx --import ./bench/use-dist.mjs bench/profile-grant.ts
 * (`--import ./bench/use-dist.mjs`: Gatehouse from dist/, as it ships; without it, through tsx).
 * PROFILE_OPAQUE=1: opaque tokens (no resource; stored by the adapter) instead of JWTs.
 * PROFILE_BARE=1: the bench's bare oidc-provider instead of Gatehouse (the same grants, for a
 * profile to hold against Gatehouse's: what Gatehouse adds is the difference). With
 * PROFILE_NATIVE=1 too, the bare provider signs as Gatehouse does (node:crypto), as the bench's
 * "same signing" line compares.
 * PROFILE_GRANTS (default 3000), 8 in flight. Uses DATABASE_URL / REDIS_URL like the bench.
 * PROFILE_OUT=file.cpuprofile: a profile of the measured grants only (no start-up, no warm-up).
 * PROFILE_PROMOTED=file.heapprofile: where the objects promoted to the old generation were
 * allocated (V8's sampling heap profiler keeping what major GCs collect and dropping what minor GCs
 * do: what lived past a scavenge). A request that is answered should show up there only when a
 * scavenge caught it in flight; docs/BENCHMARKS.md, sixteenth session, for what it found.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { CLI_ACTOR } from '../src/deps.js';
import { createTenant } from '../src/domain/tenants/tenants.service.js';
import { configureLogger } from '../src/log/logger.js';
import { tuneV8ForServing } from '../src/ops/v8-tuning.js';
import { clientCredentialsOp, discover, samplePromoted, serviceClient, setting, startBareProvider, startBenchGatehouse } from './harness.js';

const GRANTS = setting('PROFILE_GRANTS', 3000, 10, 1_000_000, true);
const opaque = process.env.PROFILE_OPAQUE === '1';

const bare = process.env.PROFILE_BARE === '1';

configureLogger({ silent: true });
tuneV8ForServing(); // as src/main.ts does
const bench = bare ? undefined : await startBenchGatehouse({ bcryptCost: 4 });
const baseline = bare ? await startBareProvider('RS256', 3600, undefined, { nativeSigning: process.env.PROFILE_NATIVE === '1' }) : undefined;
try {
  let op: () => Promise<void>;
  if (baseline) {
    op = clientCredentialsOp((await discover(baseline.issuer)).token, baseline.clientId, baseline.secret, { opaque, maxSockets: 8 });
  } else {
    const tenant = await createTenant(bench!.gh.deps, { slug: `prof-${randomBytes(3).toString('hex')}` }, CLI_ACTOR);
    const ep = await discover(`${bench!.gh.url}/t/${tenant.slug}`);
    const client = await serviceClient(bench!.gh, tenant);
    op = clientCredentialsOp(ep.token, client.clientId, client.secret, { opaque, maxSockets: 8 });
  }
  for (let i = 0; i < 100; i++) await op();
  const session = process.env.PROFILE_OUT ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const heap = process.env.PROFILE_PROMOTED ? await samplePromoted() : undefined;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let left = GRANTS;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (left-- > 0) await op();
  }));
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  if (session) writeFileSync(process.env.PROFILE_OUT!, JSON.stringify((await session.post('Profiler.stop')).profile));
  if (heap) writeFileSync(process.env.PROFILE_PROMOTED!, JSON.stringify(await heap.stop()));
  console.log(`${GRANTS} ${opaque ? 'opaque' : 'JWT'} grants in ${seconds.toFixed(1)} s (${(GRANTS / seconds).toFixed(0)}/s); CPU ${(((cpu.user + cpu.system) / 1000) / GRANTS).toFixed(2)} ms per grant in this process; ${bench ? `${bench.storage}; ${bench.kv}` : 'bare oidc-provider'}`);
} finally {
  await bench?.stop();
  await baseline?.stop();
}
