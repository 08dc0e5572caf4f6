import knexFactory from 'knex';

/** Socket errors of a database (or any TCP peer) that is down or unreachable, by `code`. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * PostgreSQL SQLSTATEs of a server that is not there for now: class 08 (connection exception),
 * 57P01-57P03 (admin/crash shutdown, cannot connect now), class 53 (insufficient resources: disk
 * full, out of memory, too many connections), class 58 (system error: I/O), 57014 (a statement
 * cancelled: the operator's statement_timeout or pg_cancel_backend), 25006 (read-only: after a
 * failover, a connection left on the old primary, now a standby, or on a server the address led
 * to before it was promoted; Gatehouse never writes in a read-only transaction of its own).
 * knex.ts drops a connection that got any of these (a new one costs little).
 */
const PG_UNAVAILABLE = /^(08[0-9A-Z]{3}|57P0[123]|53[0-9A-Z]{3}|58[0-9A-Z]{3}|57014|25006)$/;

/**
 * True for an error that says the database cannot be reached right now (the caller answers 503
 * and the pool reconnects by itself), by class or code, never by message (STYLE.md "Errors").
 */
export function isDbUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (err instanceof knexFactory.KnexTimeoutError) return true; // no pool connection in time
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || PG_UNAVAILABLE.test(code))) return true;
  // Node's happy-eyeballs connect (several addresses) fails with an AggregateError of socket errors.
  if (err instanceof AggregateError) return err.errors.some(isDbUnavailable);
  return false;
}
