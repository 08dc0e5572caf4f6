import type { EventEmitter } from 'node:events';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';
import { ensurePrivateDir } from './data-dir.js';
import { isConnectionGone } from './unavailable.js';

export type Db = Knex;
export type Trx = Knex.Transaction;

// int8 (bigserial ids, counts) as strings would leak into JSON; ours fit in a double.
pg.types.setTypeParser(20, (v: string) => Number(v));

export interface DbOptions {
  databaseUrl?: string;
  /** Folder of the embedded database, or 'memory://' for a throwaway one. */
  dataDir: string;
  /** Where knex's own notices go (each failed connection attempt during an outage), instead of console. */
  log?: (level: 'warn' | 'error' | 'debug' | 'deprecate', message: unknown) => void;
}

const knexLog = (options: DbOptions) => options.log && {
  warn: (m: unknown) => options.log!('warn', m), error: (m: unknown) => options.log!('error', m),
  debug: (m: unknown) => options.log!('debug', m), deprecate: (m: unknown) => options.log!('deprecate', m),
};

export function createDb(options: DbOptions): Db {
  if (options.databaseUrl) {
    return knexFactory({
      client: 'pg',
      connection: options.databaseUrl,
      pool: { min: 0, max: 10, afterCreate: setUpConnection },
      acquireConnectionTimeout: 10_000,
      // A failed statement's message starts with its SQL: with placeholders, never its values
      // (a password hash, an email, a token id), since such messages reach the logs.
      compileSqlOnError: false,
      ...(options.log ? { log: knexLog(options) } : {}),
    });
  }
  const memory = options.dataDir === 'memory://';
  let filename: string | undefined;
  if (!memory) {
    ensurePrivateDir(options.dataDir);
    filename = ensurePrivateDir(path.resolve(options.dataDir, 'pg'));
  }
  return knexFactory({
    client: ClientPgLite as unknown as typeof Knex.Client,
    dialect: 'postgres',
    connection: memory ? {} : { filename },
    acquireConnectionTimeout: 60_000,
    compileSqlOnError: false, // as above
  } as Knex.Config);
}

/**
 * Each new connection. One whose session the server ended is never handed out again: when
 * PostgreSQL ends a session (a restart or a terminated backend: SQLSTATE 57P01, severity FATAL)
 * the statement running gets the error (a 503, db/unavailable.ts), but knex gives the connection
 * back to its pool before the connection's 'end' event marks it, and the next statement on it
 * failed with "Connection terminated unexpectedly", an error without a SQLSTATE (a 500). The
 * server's error message comes first, so it marks the connection here, the way knex marks it on
 * 'end' (`__knex__disposed`); the pool then replaces it. So does a connection refused a write
 * because its server is read-only now (25006, after a failover): a new one may reach the primary.
 */
function setUpConnection(connection: pg.Client & { __knex__disposed?: unknown; connection: EventEmitter }, done: (err: Error | null, connection: unknown) => void) {
  connection.connection.on('errorMessage', (message: { severity?: string; code?: string }) => {
    if (message.severity === 'FATAL' || message.severity === 'PANIC' || isConnectionGone(message)) connection.__knex__disposed ??= message;
  });
  // The socket closed without a word from the server (a network cut, a killed backend, a restart
  // whose FATAL never came through): pg fails the running statement with "Connection terminated
  // unexpectedly" and no SQLSTATE, which read as a 500. It is a connection failure, SQLSTATE
  // 08006, by the connection's state and not by message: pg emits 'error' with that same error
  // object before it fails the statements (on the next tick).
  const failed = (err: unknown) => {
    if (err && typeof err === 'object' && (err as { code?: unknown }).code === undefined) (err as { code?: unknown }).code = '08006';
    return err;
  };
  let broken = false;
  connection.on('error', (err: unknown) => {
    broken = true; // pg has just marked the client not queryable
    failed(err);
  });
  // From then on pg fails every statement on this client at once with a plain Error ("not
  // queryable"): first of all knex's ROLLBACK of the transaction that was running, whose error
  // knex rejects the whole transaction with, in place of the first one. A connection failure as
  // well, by the same state.
  const query = connection.query as (...args: unknown[]) => unknown;
  (connection as { query: unknown }).query = function (this: pg.Client, ...args: unknown[]) {
    if (!broken) return query.apply(this, args);
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = (err: unknown, result: unknown) => callback(err ? failed(err) : err, result);
      return query.apply(this, args);
    }
    const result = query.apply(this, args);
    return result instanceof Promise ? result.catch((err) => Promise.reject(failed(err))) : result;
  };
  // The hot statements are prepared once per connection (db/hot-query.ts) but planned at each
  // call, on the table's size and statistics of that moment: a plan cached for good would keep
  // what suited the table when it was planned (a sequential scan of a table then a page long).
  // (A server before PostgreSQL 12 has no such setting: it is left to db/connect.ts to refuse it
  // with a clear line, MINIMUM_SERVER_VERSION_NUM.)
  connection.query('set plan_cache_mode = force_custom_plan').then(
    () => done(null, connection),
    (err: Error & { code?: string }) => {
      if (err.code === '42704') return done(null, connection);
      connection.end().catch(() => {});
      done(err, connection);
    },
  );
}

export function isEmbedded(db: Db) {
  return db.client.config.dialect === 'postgres' && db.client.config.client !== 'pg';
}

/** Postgres error codes we map to answers instead of 500s. */
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';

export function isForeignKeyViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === PG_FOREIGN_KEY_VIOLATION;
}

/**
 * Locks one row of a tenant for the rest of the transaction, so replacing a set that hangs off
 * it (members, roles, permissions) is serialised: concurrent replaces end as one of them, never
 * as their union. True when the row exists.
 */
export async function lockTenantRow(trx: Db, table: string, tenantId: string, key: Record<string, string>) {
  return Boolean(await trx(table).where({ tenant_id: tenantId, ...key }).forUpdate().first(trx.raw('1 as locked')));
}

export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === PG_UNIQUE_VIOLATION;
}

/**
 * PostgreSQL text cannot hold U+0000; a value with one names no row. Lookups keyed by outside
 * input check this first, so hostile input finds nothing instead of failing in the database.
 */
export function canNameRow(value: string) {
  return !value.includes('\u0000');
}
