import type { z } from 'zod';
import { ConfigError, loadConfig } from './load.js';
import { EnvSchema } from './env.js';

/**
 * What docs/configuration.md says about each variable. The type makes an entry mandatory for every
 * variable of EnvSchema; defaults and error lines are not written here but read from the schema and
 * from loadConfig itself, so the reference cannot drift from what the server does.
 */
interface Entry {
  /** One or two sentences: what it is for. */
  meaning: string;
  /** The default in words, where the schema has none (derived at start or absent on purpose). */
  otherwise?: string;
  /** A typical mistake; the reference shows the line the server prints for it. */
  mistake?: string;
  /** Where the variable is set in a typical deployment, or a command producing a value. */
  example?: string;
}

type Variable = keyof z.input<typeof EnvSchema>;

export const CONFIG_REFERENCE: Record<Variable, Entry> = {
  NODE_ENV: {
    meaning: '`production` makes `GATEHOUSE_MASTER_KEY` mandatory (no generated key file) and is what the Docker image sets.',
    otherwise: 'unset (development)',
  },
  PORT: { meaning: 'TCP port the HTTP server listens on.', mistake: 'abc', example: '8080' },
  PUBLIC_URL: {
    meaning: 'The external base URL clients use, without a trailing slash. Every issuer is `${PUBLIC_URL}/t/${slug}`; behind a reverse proxy it is the proxy\'s URL. Changing it changes every issuer, so tokens already issued stop verifying.',
    otherwise: '`http://localhost:$PORT`',
    mistake: 'notaurl',
    example: 'https://login.example.com',
  },
  TRUST_PROXY: {
    meaning: 'Comma-separated CIDRs (or `loopback`) of reverse proxies whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed. From any other peer they are ignored, so a client cannot choose the address that rate limits and audit events record.',
    otherwise: 'none: the peer address is the client',
    mistake: 'proxy.example.com',
    example: '10.0.0.0/8',
  },
  DATABASE_URL: {
    meaning: 'PostgreSQL connection string. Unset, Gatehouse runs PGlite (PostgreSQL compiled to WebAssembly) in `$GATEHOUSE_DATA_DIR`, which belongs to one process: set this variable for more than one node or to run the CLI beside a live server.',
    otherwise: 'embedded PGlite in `$GATEHOUSE_DATA_DIR`',
    mistake: 'mysql://db/gatehouse',
    example: 'postgres://gatehouse:secret@db.internal:5432/gatehouse',
  },
  REDIS_URL: {
    meaning: 'Redis for short-lived shared state (sessions, codes, lockouts, rate limits, replay guards). Unset, an in-process store is used: one node only (a warning at start says so).',
    otherwise: 'in-process store',
    mistake: 'localhost:6379',
    example: 'redis://redis.internal:6379/0',
  },
  REDIS_CLUSTER_NODES: {
    meaning: '`host:port,host:port,…` of a Redis Cluster (a few seed nodes are enough; the rest are discovered). When set, it is used instead of `REDIS_URL`. Keys carry the tenant in a hash tag, so each tenant\'s keys live on one shard.',
    otherwise: 'none',
    mistake: 'redis://cache:6379',
    example: '10.0.0.11:6379,10.0.0.12:6379,10.0.0.13:6379',
  },
  GATEHOUSE_DATA_DIR: {
    meaning: 'Folder for the embedded database and the generated development master key. Created with mode 0700.',
    example: '/var/lib/gatehouse',
  },
  GATEHOUSE_MASTER_KEY: {
    meaning: '32 random bytes, base64: encrypts every secret at rest (signing keys, TOTP seeds, connection secrets) and keys the client-secret hashes. Every node needs the same key; a node with another key refuses to start.',
    otherwise: 'development: generated into `$GATEHOUSE_DATA_DIR/master.key` with a warning; with `NODE_ENV=production`: required',
    mistake: 'short',
    example: '$(openssl rand -base64 32)',
  },
  GATEHOUSE_MASTER_KEY_PREVIOUS: {
    meaning: 'The master key before a rotation, read only by `gatehouse master-key rotate`, which re-encrypts every secret from it to `GATEHOUSE_MASTER_KEY` (the server never reads it). See [Keys and secrets](keys-and-secrets.md).',
    otherwise: 'none',
    mistake: 'old-key',
  },
  GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID: {
    meaning: 'With `_SECRET`: creates (if absent) a `system`-tenant client with the `system-admin` role, the client_credentials grant and `admin_access`. A changed secret is rotated to at the next start, audited.',
    otherwise: 'none',
    mistake: 'a b',
    example: 'ops-admin',
  },
  GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET: {
    meaning: 'The bootstrap client\'s secret (at least 32 characters); set together with `_CLIENT_ID`.',
    otherwise: 'none',
    mistake: 'too-short',
    example: '$(openssl rand -base64 32)',
  },
  GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL: {
    meaning: 'With `_PASSWORD`: creates (if absent) a `system`-tenant user with the `system-admin` role, for a person who signs in to the admin API through a login.',
    otherwise: 'none',
    mistake: 'admin',
    example: 'admin@example.com',
  },
  GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD: { meaning: 'That user\'s first password; set together with `_EMAIL`.', otherwise: 'none', mistake: 'short' },
  SMTP_URL: {
    meaning: 'Outgoing mail server for verification and password-reset mails: `smtp://[user:pass@]host:port` (STARTTLS when offered) or `smtps://…` (TLS from the start).',
    otherwise: 'mails are logged (without their links\' tokens), not sent',
    mistake: 'mail.example.com:25',
    example: 'smtp://mailer:secret@smtp.example.com:587',
  },
  MAIL_FROM: { meaning: 'Sender of every mail.', mistake: 'no-reply', example: 'Example Login <login@example.com>' },
  OUTBOUND_ALLOW: {
    meaning: 'CIDRs that Gatehouse\'s own outbound calls (back-channel logout, a client\'s `jwks_uri`, upstream OpenID discovery and JWKS) may reach although they are special-use addresses (loopback, private ranges). Every other special-use address is refused (SSRF protection).',
    otherwise: 'none',
    mistake: 'intranet',
    example: '10.20.0.0/16',
  },
  METRICS_ALLOW: {
    meaning: 'CIDRs whose peers may read `/metrics` (Prometheus); every other peer gets 403. The peer is the client address as `TRUST_PROXY` decides it.',
    otherwise: 'loopback and private ranges (127.0.0.0/8, ::1, 10/8, 172.16/12, 192.168/16, fc00::/7)',
    mistake: 'prometheus',
    example: '10.42.0.0/16',
  },
  GATEHOUSE_MIGRATE_ON_START: {
    meaning: '`false`: the server does not run migrations at start and refuses (one line) a database that lacks one; `gatehouse migrate` runs them (the Helm chart\'s Job does, so pods never race a migration).',
    mistake: 'no',
    example: 'false',
  },
  BCRYPT_COST: { meaning: 'bcrypt cost of password hashes: new ones, and any hash made at another cost, the next time its password is checked and accepted.', mistake: '3', example: '12' },
  LOG_LEVEL: { meaning: 'winston level of the JSON logs on stdout.', mistake: 'loud', example: 'debug' },
};

/** The default as the schema gives it, else the entry's words. */
function defaultOf(name: Variable, entry: Entry) {
  if (entry.otherwise) return entry.otherwise;
  const parsed = EnvSchema.shape[name].safeParse(undefined);
  return parsed.success && parsed.data !== undefined ? `\`${String(parsed.data)}\`` : 'none';
}

/** The line the server prints for the entry's mistake (the same code path as a start). */
export function errorLineFor(name: Variable, mistake: string) {
  try {
    loadConfig({ [name]: mistake });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error(`${name}=${mistake} is accepted; pick a real mistake for the configuration reference`);
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

/** docs/configuration.md, generated: `npm run docs` writes it; a test compares it. */
export function renderConfigReference() {
  const names = Object.keys(CONFIG_REFERENCE) as Variable[];
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/env.ts and src/config/reference.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Gatehouse reads its configuration from environment variables only; every other variable is',
    'ignored. They are checked at start: a bad value stops the server (and the CLI) with exactly',
    'one line naming the variable, before anything is opened. The last column shows that line for',
    'a typical mistake, exactly as the server prints it.',
    '',
    '| variable | meaning | default | example |',
    '|---|---|---|---|',
    ...names.map((n) => {
      const e = CONFIG_REFERENCE[n];
      return `| \`${n}\` | ${cell(e.meaning)} | ${cell(defaultOf(n, e))} | ${e.example ? `\`${cell(e.example)}\`` : ''} |`;
    }),
    '',
    '## What a bad value says',
    '',
    '| you set | the server stops with |',
    '|---|---|',
    ...names.filter((n) => CONFIG_REFERENCE[n].mistake !== undefined).map((n) => {
      const mistake = CONFIG_REFERENCE[n].mistake!;
      return `| \`${n}=${cell(mistake)}\` | \`${cell(errorLineFor(n, mistake))}\` |`;
    }),
    '',
    'Some mistakes are found only when the server connects: an unreachable PostgreSQL or Redis, a',
    'database that does not exist, a PostgreSQL older than 14 (the oldest Gatehouse supports), or a',
    'master key that cannot decrypt what the database holds. Each',
    'also stops the start with one line naming the variable (see [Deployment](deployment.md)).',
    '',
  ];
  return lines.join('\n');
}
