import { createServer, type Server } from 'node:http';
import path from 'node:path';
import Koa from 'koa';
import { drainAuditOutboxEvery } from './audit/outbox.js';
import { ConfigError, type Config } from './config/load.js';
import { DatabaseUnreachableError, checkDatabase } from './db/connect.js';
import { createDb, setStatementDeadline } from './db/knex.js';
import { migrateLatest, pendingMigrations } from './db/migrate.js';
import { analyzeStaleTables, STATISTICS_INTERVAL_MS } from './db/statistics.js';
import type { Deps } from './deps.js';
import { SYSTEM_ACTOR } from './deps.js';
import { ensureRs256Keys } from './domain/keys/keys.service.js';
import { adoptDerivedKeys } from './domain/keys/derived-keys.js';
import { scheduleKeyRotation } from './domain/keys/key-schedule.js';
import { checkMasterKey, MasterKeyMismatchError } from './domain/keys/master-key-check.js';
import { stopXmlValidator } from './domain/saml-connections/xml-schema.js';
import { ensureSystemTenant } from './domain/tenants/tenants.service.js';
import { accountRoutes } from './account/account.routes.js';
import { federationRoutes } from './federation/federation.routes.js';
import { finishSamlLogin } from './federation/saml/hand-off.js';
import { samlRoutes } from './federation/saml/saml.routes.js';
import { interactionRoutes } from './interactions/interactions.routes.js';
import { createKv } from './kv/index.js';
import { KvUnreachableError, RedisStore } from './kv/redis.js';
import { log } from './log/logger.js';
import { Mailer } from './mail/mailer.js';
import { deleteExpiredMailTokens } from './mail/tokens.js';
import { logAppErrors, requestContext } from './log/request.js';
import { securityHeaders } from './security/headers.js';
import { selfServiceRoutes } from './self-service/self-service.routes.js';
import { opsRoutes, Readiness } from './ops/ops.routes.js';
import { answerStorageOutages } from './ops/unavailable.js';
import { Metrics, UNMATCHED } from './ops/metrics.js';
import { frontDoorRoutes, notFound } from './ops/front-door.js';
import { deleteExpiredPayloads } from './provider/adapters/postgres.js';
import { clientAddresses } from './security/client-address.js';
import { Passwords } from './security/passwords.js';
import { RateLimits } from './security/rate-limit.js';
import { resolveMasterKey, Secrets } from './security/secrets.js';
import { adminApi } from './admin/admin.routes.js';
import { bootstrapAdmins } from './bootstrap.js';
import { directProtocolRequests } from './tenancy/direct.js';
import { mountTenants } from './tenancy/mount.js';
import { TenantRegistry } from './tenancy/registry.js';

/**
 * Opens storage, runs migrations and checks the master key; shared by the server and the CLI.
 * Storage that cannot be reached or a master key that does not fit stops the start with a
 * ConfigError of one line naming the variable (DESIGN.md "Configuration").
 */
export async function openDeps(config: Config, options: { kvPrefix?: string; migrate?: boolean; masterKeyCheck?: boolean } = {}): Promise<Deps> {
  const masterKey = resolveMasterKey(config.masterKey, config.dataDir, (event, detail) => log().warn(event, { detail }), { shared: Boolean(config.databaseUrl) });
  // Redis first: its refusal then leaves no database half open (the embedded one opens at once).
  const kv = await createKv(config.redisUrl, config.redisClusterNodes).catch((err) => {
    throw err instanceof KvUnreachableError ? new ConfigError(err.message, { cause: err }) : err;
  });
  if (kv instanceof RedisStore && kv.cluster) logClusterSlots(kv, config.redisClusterNodes ?? []);
  // knex's notices (a failed connection attempt each, during an outage) go to our log, not the console.
  const db = createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log: (level, m) => log().debug('db.notice', { level, detail: String(m) }) });
  db.on('prepared-statements-off', (refusal: { code?: string; message?: string }) => {
    log().warn('db.prepared_statements_off', { detail: 'the database refused a named prepared statement (a pooler in transaction mode without prepared-statement support): statements go unnamed until this process restarts', error: { code: refusal.code, message: refusal.message } });
  });
  try {
    await checkDatabase(db);
    if (options.migrate === false) await requireMigrated(db);
    else {
      // A record of when the schema changed (a rolling upgrade's new node migrates a live database).
      const applied = await migrateLatest(db);
      if (applied.length) log().info('db.migrated', { count: applied.length, migrations: applied });
    }
    await refreshStatistics(db);
    const secrets = new Secrets(masterKey);
    // `gatehouse master-key rotate` opens the database before its key fits (it makes it fit).
    if (options.masterKeyCheck !== false) {
      await checkMasterKey({ db, secrets });
      await adoptDerivedKeys({ db, secrets });
    }
    const kvPrefix = options.kvPrefix ?? 'gh:';
    return { config, db, kv, secrets, passwords: new Passwords(config.bcryptCost), kvPrefix, rateLimits: new RateLimits(kv, kvPrefix), mailer: new Mailer(config) };
  } catch (err) {
    await kv.close().catch(() => {});
    await db.destroy().catch(() => {});
    if (err instanceof MasterKeyMismatchError && !config.masterKey) {
      // The key came from the data folder's file: that file is what to change, not the variable.
      throw new ConfigError(`${err.message} (GATEHOUSE_MASTER_KEY is not set: the key used is the content of ${path.resolve(config.dataDir, 'master.key')})`, { cause: err });
    }
    const refusal = err instanceof DatabaseUnreachableError || err instanceof MasterKeyMismatchError;
    throw refusal ? new ConfigError(err.message, { cause: err }) : err;
  }
}

/**
 * Statistics help the planner; a node without fresh ones still serves, so a failure only warns:
 * once when rounds start failing (an outage fails every round, one each STATISTICS_INTERVAL_MS),
 * and a line when they succeed again.
 */
async function refreshStatistics(db: Deps['db'], streak = { failing: false }) {
  try {
    await analyzeStaleTables(db);
    if (streak.failing) log().info('db.analyze_recovered');
    streak.failing = false;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (!streak.failing) log().warn('db.analyze_failed', { error: { name: e.name, code: e.code, message: e.message }, detail: 'logged once until a round succeeds' });
    streak.failing = true;
  }
}

/**
 * A Redis Cluster's slots asked for again after a lost node (kv/redis.ts): a line when the masters
 * changed (a failover followed) and when no listed node answered, which only a node of
 * REDIS_CLUSTER_NODES coming back can end, so a single listed node is warned about at start.
 */
function logClusterSlots(kv: RedisStore, nodes: string[]) {
  if (nodes.length === 1) {
    log().warn('kv.cluster_single_node', { detail: `REDIS_CLUSTER_NODES lists one node (${nodes[0]}): if it is lost, this node cannot learn the cluster's new masters until it answers again; list several (or all) nodes` });
  }
  let failing = false; // one warning per stretch of failed asks, not one a second
  kv.onSlotsChange((change) => {
    if (change.ok) {
      failing = false;
      if (change.changed) log().info('kv.cluster_slots_changed', { masters: change.masters });
    } else if (!failing) {
      failing = true;
      log().warn('kv.cluster_slots_unavailable', { detail: 'no node of REDIS_CLUSTER_NODES told the cluster\'s slots; asked again at each sign of a lost node', reason: change.reason, asked: change.asked });
    }
  });
}

/** A server that does not migrate (GATEHOUSE_MIGRATE_ON_START=false) refuses a database behind its build. */
async function requireMigrated(db: Deps['db']) {
  const pending = await pendingMigrations(db);
  if (pending.length) {
    throw new ConfigError(`The database lacks ${pending.length} migration(s) of this version (first: ${pending[0]}): run \`gatehouse migrate\` first (GATEHOUSE_MIGRATE_ON_START=false keeps the server from running them)`);
  }
}

export async function closeDeps(deps: Deps) {
  // Each is closed even when closing another failed: a worker or connection left open keeps the process alive.
  try {
    // Mails still being sent need the database (their tokens are stored first) and the store.
    await deps.mailer.close();
    await deps.kv.close();
  } finally {
    try {
      await deps.db.destroy();
    } finally {
      await deps.passwords.close();
      await stopXmlValidator();
    }
  }
}

/** The composition root: the only place that wires every area together. */
export function createApp(deps: Deps, options: { tenantCacheSize?: number } = {}) {
  const registry = new TenantRegistry(deps, options.tenantCacheSize);
  const readiness = new Readiness();
  const metrics = new Metrics();
  const app = new Koa();
  logAppErrors(app);
  app.use(metrics.middleware());
  app.use(requestContext());
  app.use(answerStorageOutages());
  app.use(clientAddresses(deps.config.trustProxy));
  app.use(securityHeaders());
  app.use(notFound()); // what nothing below answers: a 404 in the format of its surface
  // First of the routes: a protocol request (/t/:slug/token, ...) of a tenant not built yet (else it
  // came by tenancy/direct.ts) goes to its provider at once, through no router; every other path
  // passes on (the routes below answer no /t/ path of its).
  app.use(mountTenants(registry, deps.config));
  app.use(frontDoorRoutes(deps.config).routes());
  const ops = opsRoutes(deps, readiness, metrics);
  app.use(ops.routes()).use(ops.allowedMethods());
  const interactions = interactionRoutes(deps);
  app.use(interactions.routes()).use(interactions.allowedMethods());
  const federation = federationRoutes(deps);
  app.use(federation.routes()).use(federation.allowedMethods());
  const saml = samlRoutes(deps, finishSamlLogin);
  app.use(saml.routes()).use(saml.allowedMethods());
  app.use(accountRoutes(deps, registry).routes());
  const selfService = selfServiceRoutes(deps, registry);
  app.use(selfService.routes()).use(selfService.allowedMethods());
  app.use(adminApi(deps, registry));
  // The server's listener: the protocol requests of built tenants pass the app by (tenancy/direct.ts).
  const unmatched = () => UNMATCHED;
  const listener = directProtocolRequests(registry, deps.config, {
    observe: (res, method) => metrics.observe(res, method, unmatched),
  }, app.callback());
  return { listener, registry, readiness, metrics };
}

export interface Gatehouse {
  server: Server;
  url: string;
  deps: Deps;
  registry: TenantRegistry;
  /** This instance's Prometheus registry, served at /metrics. */
  metrics: Metrics;
  /** SIGTERM: /readyz answers 503 from now on and keep-alive connections close after their answer. */
  drain(): void;
  close(): Promise<void>;
}

/**
 * How long a serving node waits for PostgreSQL's answer to one statement (db/knex.ts
 * setStatementDeadline). Far above any statement of a request or a background job (the sweep of
 * expired rows goes in batches); below the 60 s a proxy in front commonly waits.
 */
const STATEMENT_DEADLINE_MS = 30_000;

/**
 * Listens, then prepares tenants with the final PUBLIC_URL (known once the port is).
 * `tenantCacheSize`: tenants whose provider a node keeps built (LRU; tenancy/registry.ts).
 * `statementDeadlineMs`: STATEMENT_DEADLINE_MS unless a test wants to see it pass sooner.
 */
export async function startGatehouse(config: Config, options: { kvPrefix?: string; deps?: Deps; tenantCacheSize?: number; statementDeadlineMs?: number } = {}): Promise<Gatehouse> {
  const deps = options.deps ?? (await openDeps(config, { ...options, migrate: config.migrateOnStart !== false }));
  // Migrations have run: from here on no statement is expected to take long.
  setStatementDeadline(deps.db, options.statementDeadlineMs ?? STATEMENT_DEADLINE_MS);
  const { listener, registry, readiness, metrics } = createApp(deps, options);
  // Its answers close their connection once draining (ops/ops.routes.ts).
  const server = createServer({ ServerResponse: readiness.responseClass() }, listener).listen(config.port);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  if (!config.publicUrlFixed) config.publicUrl = `http://localhost:${port}`;
  try {
    // Tenants, clients and keys are cached per node from here on, dropped by the change feed.
    await registry.followChanges();
    const system = await ensureSystemTenant(deps, SYSTEM_ACTOR);
    await ensureRs256Keys(deps, SYSTEM_ACTOR);
    await bootstrapAdmins(deps, system);
  } catch (err) {
    // A start that failed leaves nothing running: main.ts exits at once, and a hashing thread
    // still loading bcrypt (bootstrapAdmins may have hashed) would turn that exit into an abort.
    server.close();
    await registry.close().catch(() => {});
    if (!options.deps) await closeDeps(deps).catch(() => {});
    throw err;
  }
  // From here on /readyz may say 200: the system tenant, its keys and the bootstrap admins exist.
  readiness.started();
  deps.passwords.warm();
  const sweeper = setInterval(() => {
    deleteExpiredPayloads(deps.db).catch(() => {});
    deleteExpiredMailTokens(deps.db).catch(() => {});
  }, 10 * 60_000);
  sweeper.unref();
  // What autovacuum does on a server, also for the embedded database and a new one (db/statistics.ts).
  // A round still waiting on a database that does not answer (up to the statement deadline) is
  // not joined by the next: rounds would otherwise pile up and hold the pool's connections.
  let statisticsRound: Promise<void> | undefined;
  const statisticsFailures = { failing: false };
  const statistics = setInterval(() => {
    statisticsRound ??= refreshStatistics(deps.db, statisticsFailures).finally(() => (statisticsRound = undefined));
  }, STATISTICS_INTERVAL_MS);
  statistics.unref();
  // Audit events PostgreSQL could not take when their action happened (audit/outbox.ts).
  const stopOutboxDrain = drainAuditOutboxEvery(deps);
  // Every node runs the schedule; a database lock per tenant makes each rotation happen once.
  const keySchedule = scheduleKeyRotation(deps);
  return {
    server,
    url: config.publicUrl,
    deps,
    registry,
    metrics,
    drain() {
      readiness.drain();
      server.closeIdleConnections?.();
    },
    async close() {
      readiness.drain();
      clearInterval(sweeper);
      clearInterval(statistics);
      await stopOutboxDrain();
      server.closeIdleConnections?.();
      await keySchedule.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await registry.close();
      await closeDeps(deps);
    },
  };
}
