import { randomBytes, randomUUID } from 'node:crypto';
import Transport from 'winston-transport';
import { startGatehouse, type Gatehouse } from '../../src/app.js';
import type { Config } from '../../src/config/load.js';
import { CLI_ACTOR } from '../../src/deps.js';
import { registerClient } from '../../src/domain/clients/clients.service.js';
import { createTenant } from '../../src/domain/tenants/tenants.service.js';
import type { Tenant } from '../../src/domain/tenants/tenants.types.js';
import { createUser } from '../../src/domain/users/users.service.js';
import type { NewUser } from '../../src/domain/users/users.types.js';
import { configureLogger } from '../../src/log/logger.js';
import { clientValidator } from '../../src/tenancy/validate-client.js';
import { freshDatabase } from './database.js';

export { freshDatabase };

/** Every log line of this test file, to assert no secret is ever written. */
export const logLines: string[] = [];
class Capture extends Transport {
  log(info: any, done: () => void) {
    logLines.push(JSON.stringify(info));
    done();
  }
}
configureLogger({ level: 'debug', transport: new Capture() });

export interface TestGatehouse extends Gatehouse {
  config: Config;
  tenant(slug?: string): Promise<Tenant>;
  client(tenant: Tenant, metadata?: Record<string, unknown>, roles?: string[]): Promise<{ clientId: string; clientSecret?: string; redirectUri: string }>;
  user(tenant: Tenant, overrides?: Partial<NewUser>): Promise<{ id: string; email: string; password: string }>;
  /** Stops the server and starts a new one on the same database and port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A test node's configuration on `db` (this run's PostgreSQL or PGlite, and Redis when REDIS_URL is set). */
export function testConfig(db: Awaited<ReturnType<typeof freshDatabase>>, overrides: Partial<Config> = {}): Config {
  return {
    production: false,
    port: 0,
    publicUrl: '',
    publicUrlFixed: false,
    trustProxy: [],
    databaseUrl: db.url,
    redisUrl: process.env.REDIS_URL || undefined,
    dataDir: db.dataDir!,
    masterKey: randomBytes(32).toString('base64'),
    bootstrap: {},
    bcryptCost: 4,
    logLevel: 'debug',
    outboundAllow: [],
    ...overrides,
  };
}

/**
 * `overrides` set configuration a test needs, e.g. `outboundAllow` for a relying party on
 * 127.0.0.1, `trustProxy`; `start`, options of startGatehouse beyond the configuration (a
 * shorter statement deadline).
 */
export async function startTestGatehouse(overrides: Partial<Config> = {}, start: { statementDeadlineMs?: number } = {}): Promise<TestGatehouse> {
  const db = await freshDatabase();
  const config = testConfig(db, overrides);
  const kvPrefix = `ghtest:${randomBytes(4).toString('hex')}:`;
  let gh = await startGatehouse(config, { ...start, kvPrefix });
  const self: TestGatehouse = {
    get server() { return gh.server; },
    get url() { return gh.url; },
    get deps() { return gh.deps; },
    get registry() { return gh.registry; },
    get metrics() { return gh.metrics; },
    config,
    close: () => gh.close(),
    drain: () => gh.drain(),
    async tenant(slug = `t-${randomBytes(4).toString('hex')}`) {
      return createTenant(gh.deps, { slug, name: `Tenant ${slug}` }, CLI_ACTOR);
    },
    async client(tenant, metadata = {}, roles = []) {
      const redirectUri = 'http://127.0.0.1:9/cb';
      const { client, secret } = await registerClient(gh.deps, tenant, { metadata: { client_name: 'Test app', redirect_uris: [redirectUri], post_logout_redirect_uris: ['http://127.0.0.1:9/bye'], ...metadata }, roles }, CLI_ACTOR, clientValidator(gh.registry));
      return { clientId: client.clientId, clientSecret: secret, redirectUri };
    },
    async user(tenant, overrides = {}) {
      const password = overrides.password ?? `pw-${randomBytes(8).toString('hex')}`;
      const email = overrides.email ?? `${randomUUID().slice(0, 8)}@example.com`;
      const user = await createUser(gh.deps, tenant, { name: 'Test User', givenName: 'Test', familyName: 'User', emailVerified: true, ...overrides, email, password }, CLI_ACTOR);
      return { id: user.id, email, password };
    },
    async restart() {
      // Everything in memory is dropped; the database (a folder, or the server) is reopened.
      config.port = (gh.server.address() as { port: number }).port;
      gh.server.closeAllConnections?.();
      await gh.close();
      gh = await startGatehouse(config, { ...start, kvPrefix });
    },
    async stop() {
      gh.server.closeAllConnections?.();
      await gh.close();
      await db.drop();
    },
  };
  return self;
}
