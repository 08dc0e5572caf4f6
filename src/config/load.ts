import type { Cidr } from './cidr.js';
import { formatCidr } from './cidr.js';
import { EnvSchema } from './env.js';

export interface Config {
  production: boolean;
  port: number;
  /** Set once the listening port is known when PUBLIC_URL is absent. */
  publicUrl: string;
  publicUrlFixed: boolean;
  /** CIDRs of reverse proxies whose X-Forwarded-For / -Proto are believed (security/client-address.ts). */
  trustProxy: string[];
  databaseUrl?: string;
  redisUrl?: string;
  /** REDIS_CLUSTER_NODES: some nodes of a Redis Cluster (`host:port`); used instead of redisUrl when set. */
  redisClusterNodes?: string[];
  dataDir: string;
  masterKey?: string;
  /** GATEHOUSE_MASTER_KEY_PREVIOUS: read only by `gatehouse master-key rotate` (cli/master-key.ts). */
  masterKeyPrevious?: string;
  bootstrap: {
    clientId?: string;
    clientSecret?: string;
    email?: string;
    password?: string;
  };
  smtpUrl?: string;
  /** Sender of every mail (MAIL_FROM); mail/ falls back to DEFAULT_MAIL_FROM when absent. */
  mailFrom?: string;
  /**
   * PEM certificates the SMTP client trusts besides the system's. Not read from the environment
   * (a deployment with a private CA sets NODE_EXTRA_CA_CERTS): for tests and embedders.
   */
  smtpCa?: string;
  /** Special-use addresses (loopback, private ranges) that outbound calls may reach anyway. */
  outboundAllow: Cidr[];
  /**
   * GATEHOUSE_MIGRATE_ON_START (not in DESIGN.md's table; the Helm chart sets it false): the server
   * runs pending migrations at start unless false, when it refuses to start while any is pending
   * and `gatehouse migrate` (the chart's pre-install/pre-upgrade Job) runs them. Absent: true.
   */
  migrateOnStart?: boolean;
  /** Peers (the client address of security/client-address.ts) that may read /metrics; absent: DEFAULT_METRICS_ALLOW. */
  metricsAllow?: string[];
  bcryptCost: number;
  logLevel: string;
  /**
   * Admin API requests per principal, instead of admin/rate-limit.ts's ADMIN_RATE_LIMIT. Not read
   * from the environment (DESIGN.md names no variable for it): for tests and embedders.
   */
  adminRateLimit?: { limit: number; window_seconds: number };
  /**
   * The signing-key schedule (domain/keys/key-schedule.ts): how often each node looks for due
   * rotations and retirements, and the clock margin a previous key stays in JWKS beyond the
   * longest token lifetime. Not read from the environment (DESIGN.md names no variable): for tests.
   */
  keySchedule?: { intervalMs?: number; skewSeconds?: number; firstPassMs?: number; stageBudgetMs?: number };
}

/** METRICS_ALLOW's default (DESIGN.md "Configuration"): loopback and the private ranges. */
export const DEFAULT_METRICS_ALLOW = ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'];

export const DEFAULT_MAIL_FROM = 'Gatehouse <no-reply@localhost>';

export class ConfigError extends Error {}

/** Parses the environment; a bad value throws one line naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`Invalid configuration: ${name} ${describe(issue.message)}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  if (production && !e.GATEHOUSE_MASTER_KEY) {
    throw new ConfigError('Invalid configuration: GATEHOUSE_MASTER_KEY is required when NODE_ENV=production');
  }
  pair(e.GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID, e.GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET, 'GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT');
  pair(e.GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL, e.GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD, 'GATEHOUSE_BOOTSTRAP_ADMIN');
  return {
    production,
    port: e.PORT,
    publicUrl: e.PUBLIC_URL ?? `http://localhost:${e.PORT}`,
    publicUrlFixed: Boolean(e.PUBLIC_URL),
    trustProxy: [...new Set((e.TRUST_PROXY ?? []).map(formatCidr))],
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    redisClusterNodes: e.REDIS_CLUSTER_NODES,
    dataDir: e.GATEHOUSE_DATA_DIR,
    masterKey: e.GATEHOUSE_MASTER_KEY,
    masterKeyPrevious: e.GATEHOUSE_MASTER_KEY_PREVIOUS,
    bootstrap: {
      clientId: e.GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID,
      clientSecret: e.GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET,
      email: e.GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL,
      password: e.GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD,
    },
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    outboundAllow: e.OUTBOUND_ALLOW ?? [],
    metricsAllow: e.METRICS_ALLOW ? [...new Set(e.METRICS_ALLOW.map(formatCidr))] : DEFAULT_METRICS_ALLOW,
    migrateOnStart: e.GATEHOUSE_MIGRATE_ON_START === 'true',
    bcryptCost: e.BCRYPT_COST,
    logLevel: e.LOG_LEVEL,
  };
}

function describe(message: string) {
  // zod's own wording for coercions ("Invalid input: expected number, received NaN") made readable.
  return /^Invalid|^Too|^Expected/.test(message) ? `is invalid (${message.toLowerCase()})` : message;
}

function pair(a: string | undefined, b: string | undefined, prefix: string) {
  const [first, second] = prefix.endsWith('CLIENT') ? ['_ID', '_SECRET'] : ['_EMAIL', '_PASSWORD'];
  if (Boolean(a) !== Boolean(b)) {
    const missing = a ? `${prefix}${second}` : `${prefix}${first}`;
    throw new ConfigError(`Invalid configuration: ${missing} must be set together with ${a ? `${prefix}${first}` : `${prefix}${second}`}`);
  }
}
