import { setTimeout as sleep } from 'node:timers/promises';
import { startGatehouse } from './app.js';
import { ConfigError, loadConfig } from './config/load.js';
import { announce, configureLogger, log, logProviderNotices } from './log/logger.js';
import { startBanner } from './ops/banner.js';
import { holdDataDir } from './db/lock.js';
import { oidcProviderPatch } from './provider/patched.js';
import { tuneV8ForServing } from './ops/v8-tuning.js';

/** After SIGTERM, how long the node keeps answering (with /readyz 503) before it stops listening. */
const LAME_DUCK_MS = 5_000;
/** How often a server started by `npm start` checks that its parent is still there (below). */
const PARENT_CHECK_MS = 1_000;

async function main() {
  // First, before the server starts: V8's heuristics as a server wants them (ops/v8-tuning.ts).
  tuneV8ForServing();
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  configureLogger({ level: config.logLevel });
  logProviderNotices(); // stdout carries JSON lines only
  if (!config.databaseUrl) holdDataDir(config.dataDir);
  const gh = await startGatehouse(config);
  if (!config.databaseUrl) log().warn('storage.embedded', { detail: `Embedded PostgreSQL (PGlite) in ${config.dataDir}: single process only. Set DATABASE_URL for production.` });
  if (config.masterKeyPrevious) log().warn('config.master_key_previous_set', { detail: 'GATEHOUSE_MASTER_KEY_PREVIOUS is set: the server never reads it (only `gatehouse master-key rotate` does). Remove it from the server\'s environment once the rotation has finished, so the old key is not kept where it is not needed.' });
  if (!config.redisUrl && !config.redisClusterNodes) log().warn('kv.in_process', { detail: 'Neither REDIS_URL nor REDIS_CLUSTER_NODES is set: using the in-process store. This is single-node only; set one of them to run more than one node.' });
  if (oidcProviderPatch() === 'missing') log().warn('oidc_provider.unpatched', { detail: 'The installed oidc-provider lacks the patch in patches/ (installed with --ignore-scripts?): logins and tokens work, but every request lives on in memory until a full collection, and latency has a longer tail under load. Apply it with: npx patch-package' });
  // `url`: PUBLIC_URL, what clients use; `address`: where this node listens (one of several behind a balancer).
  const bound = gh.server.address();
  log().info('server.listening', { url: gh.url, address: typeof bound === 'object' && bound ? `${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}` : String(bound) });
  // One line on stderr saying where the server is and what to do next (no tenant yet, or which).
  announce('server.ready', await startBanner(gh.deps, gh.url));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // DESIGN.md "Operations": /readyz turns 503 at once; in-flight requests finish; exit within 25 s.
    gh.drain();
    log().info('server.draining', { signal });
    const force = setTimeout(() => process.exit(1), 24_000); // before an orchestrator's 25 s
    force.unref();
    // SIGTERM comes from an orchestrator or a load balancer's host: keep answering (every answer
    // closing its connection, /readyz 503) while they notice and send no more, then stop
    // listening. Ctrl-C (SIGINT) at a terminal stops at once.
    if (signal === 'SIGTERM') await sleep(LAME_DUCK_MS);
    await gh.close();
    log().info('server.stopped', { signal });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // `npm start` runs the server under a shell (`sh -c`), and passes a SIGTERM it is sent on to that
  // shell. A shell that does not hand its process over to the command (Debian's dash) ends without
  // passing the signal on, and the server ran on with nobody to stop it (and its port taken).
  // Started by npm, the server stops when its parent has gone. Run directly (the image, the chart,
  // a supervisor) it does not: a parent that ends there is not asking it to stop.
  if (process.env.npm_lifecycle_event === 'start') {
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(watch);
      void stop('parent_exited');
    }, PARENT_CHECK_MS);
    watch.unref();
  }
}

main().catch((err) => {
  // A refusal (storage unreachable, a master key that does not fit) is one line naming the variable.
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  log().error('server.start_failed', { error: { name: err?.name, message: err?.message } });
  process.stderr.write(`Gatehouse could not start: ${err?.message ?? err}\n`);
  process.exit(1);
});
