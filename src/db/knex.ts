import type { EventEmitter } from 'node:events';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';
import { log } from '../log/logger.js';
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

/**
 * How long a connection to PostgreSQL may take to open. pg waits without a limit by default, and
 * a server that accepts the connection and then answers nothing (a hung server, a silent network)
 * would hold the pool's attempt for good.
 */
const CONNECT_TIMEOUT_MS = 5_000;

/** How often a server checks, during a statement, that its client is still connected (setUpConnection). */
const CLIENT_CHECK_INTERVAL_MS = 2_000;

/** The statement deadline of a database handle (setStatementDeadline); 0: none. */
interface StatementDeadline {
  ms: number;
}
const deadlines = new WeakMap<Db, StatementDeadline>();

export function createDb(options: DbOptions): Db {
  if (options.databaseUrl) {
    const deadline: StatementDeadline = { ms: 0 };
    const db = knexFactory({
      client: 'pg',
      // TCP keep-alive probes after 30 s idle, so an idle pooled connection whose peer vanished
      // (a failover, a NAT that forgot it) is found broken by the kernel, not by a request.
      connection: { connectionString: options.databaseUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true, keepAliveInitialDelayMillis: 30_000 },
      pool: { min: 0, max: 10, afterCreate: (connection: PgConnection, done: AfterCreateDone) => setUpConnection(connection, done, deadline) },
      acquireConnectionTimeout: 10_000,
      // A failed statement's message starts with its SQL: with placeholders, never its values
      // (a password hash, an email, a token id), since such messages reach the logs.
      compileSqlOnError: false,
      ...(options.log ? { log: knexLog(options) } : {}),
    });
    deadlines.set(db, deadline);
    markConnectFailures(db);
    return db;
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
 * A connection that could not be opened is an outage (a 503): pg's own timeout
 * (CONNECT_TIMEOUT_MS, "timeout expired") and a socket closed during the handshake come without
 * a SQLSTATE, and knex passes the first error of opening a connection on to the statement that
 * waited for it. They get 08001 (unable to establish a connection); errors with a code of their
 * own (a refused connection, a wrong password) keep it, and a TypeError stays a bug.
 */
function markConnectFailures(db: Db) {
  // knex's opening of the socket and handshake only (not its reading of the server's version).
  const client = db.client as { _acquireOnlyConnection(): Promise<unknown> };
  const open = client._acquireOnlyConnection.bind(client);
  client._acquireOnlyConnection = () => open().catch((err: unknown) => {
    if (err instanceof Error && !(err instanceof TypeError) && (err as { code?: unknown }).code === undefined) (err as { code?: unknown }).code = '08001';
    throw err;
  });
}

/**
 * From now on, a statement of `db` that has had no answer after `ms` fails as a connection
 * failure (SQLSTATE 08006, a 503) and its connection is closed. For a server that accepts and
 * answers nothing (hung, or behind a network that drops packets without a word): without a
 * deadline each request waits for good, holding one of the pool's connections, until the pool
 * is exhausted and the node with it. Set by the server once it is open (app.ts), not by
 * migrations or the CLI, whose long statements are expected. The server ends a statement cut so
 * within CLIENT_CHECK_INTERVAL_MS of the closing. A statement sent with the query option
 * `{ deadline: false }` (knex `.options()`) has none. No effect on the embedded database.
 */
export function setStatementDeadline(db: Db, ms: number) {
  const deadline = deadlines.get(db);
  if (deadline) deadline.ms = ms;
}

type PgConnection = pg.Client & { __knex__disposed?: unknown; connection: EventEmitter & { stream?: { destroy(): void } } };
type AfterCreateDone = (err: Error | null, connection: unknown) => void;

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
function setUpConnection(connection: PgConnection, done: AfterCreateDone, deadline: StatementDeadline) {
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
  //
  // Each statement also gets the handle's deadline (setStatementDeadline): when it passes, the
  // socket is destroyed, and pg fails the statement as above ("Connection terminated
  // unexpectedly", 08006 here). Streams (a query object without a callback) are left alone.
  const query = connection.query as (...args: unknown[]) => unknown;
  (connection as { query: unknown }).query = function (this: pg.Client, ...args: unknown[]) {
    const last = args.length - 1;
    const callback = args[last];
    const ms = broken || (args[0] as { deadline?: unknown } | null)?.deadline === false ? 0 : deadline.ms;
    const timer = ms > 0 ? setTimeout(() => {
      connection.__knex__disposed ??= 'statement deadline';
      log().warn('db.statement_deadline', { detail: `PostgreSQL gave no answer to a statement within ${ms} ms: its connection is closed` });
      connection.connection.stream?.destroy();
    }, ms) : undefined;
    if (typeof callback === 'function') {
      args[last] = (err: unknown, result: unknown) => {
        clearTimeout(timer);
        callback(err && broken ? failed(err) : err, result);
      };
    }
    let result: unknown;
    try {
      result = query.apply(this, args);
    } catch (err) {
      clearTimeout(timer);
      throw err;
    }
    if (typeof callback === 'function') return result;
    if (result instanceof Promise) {
      return result.then(
        (value) => { clearTimeout(timer); return value; },
        (err) => { clearTimeout(timer); return Promise.reject(broken ? failed(err) : err); },
      );
    }
    clearTimeout(timer);
    return result;
  };
  // The hot statements are prepared once per connection (db/hot-query.ts) and planned as
  // PostgreSQL plans any prepared statement by default (plan_cache_mode auto, set here whatever a
  // database or role says): its first five calls each planned for their values, then one generic
  // plan kept while it costs no more than they did. A kept plan does not outlive the size it was
  // made on: an analysis that changes a table's size (pages or rows) invalidates the plans that
  // read it, and db/statistics.ts analyzes a table each time it has doubled, so a plan made while
  // a table was a page long is made again as it grows (test/integration/db/statistics.test.ts
  // holds to it). A table of another role is left to autovacuum. Every call was planned anew before
  // (force_custom_plan), which cost PGlite about a fifth of the event loop's time in a login
  // (docs/BENCHMARKS.md, twenty-first session).
  //
  // A statement cut by the deadline above leaves its backend running (holding its locks and a
  // connection slot) until the server next reads from the socket; with client_connection_check_interval
  // (PostgreSQL 14) the server looks every 2 s during a statement and ends the backend once the
  // socket is closed.
  // A server without the setting (one that only speaks PostgreSQL's protocol: 42704) or unable
  // to look (22023 on some platforms) goes without.
  const checkClient = () => connection.query(`set client_connection_check_interval = ${CLIENT_CHECK_INTERVAL_MS}`).catch((err: { code?: string }) => {
    if (err.code !== '42704' && err.code !== '22023') throw err;
  });
  connection.query('set plan_cache_mode = auto').then(checkClient).then(
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
