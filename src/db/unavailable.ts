import knexFactory from 'knex';

/** Socket errors of a database (or any TCP peer) that is down or unreachable, by `code`. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * PostgreSQL SQLSTATEs of a server that is not there for now: class 08 (connection exception),
 * 57P01-57P03 (admin/crash shutdown, cannot connect now), 25006 (read-only: after a failover, a
 * connection left on the old primary, now a standby, or on a server the address led to before it
 * was promoted; Gatehouse never writes in a read-only transaction of its own). knex.ts replaces a
 * connection that got one of these (a new one may reach the primary).
 */
const PG_GONE = /^(08[0-9A-Z]{3}|57P0[123]|25006)$/;
/**
 * And of a server that refuses for now on a connection worth keeping: 53000, 53100, 53200, 53300
 * (insufficient resources: disk full, out of memory, too many connections), 58000 and 58030
 * (system and I/O errors), 57014 (a statement cancelled: the operator's statement_timeout or
 * pg_cancel_backend). A new connection would only add load to a server short of resources.
 */
const PG_REFUSING = /^(53[0-3]00|58000|58030|57014)$/;

/** True for a server message after which knex.ts gives up the connection it came on. */
export const isConnectionGone = (message: { code?: unknown }) => typeof message.code === 'string' && PG_GONE.test(message.code);

/**
 * True for an error that says the database cannot be reached right now (the caller answers 503
 * and the pool reconnects by itself), by class or code, never by message (STYLE.md "Errors").
 */
export function isDbUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (err instanceof knexFactory.KnexTimeoutError) return true; // no pool connection in time
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || PG_GONE.test(code) || PG_REFUSING.test(code))) return true;
  // Node's happy-eyeballs connect (several addresses) fails with an AggregateError of socket errors.
  if (err instanceof AggregateError) return err.errors.some(isDbUnavailable);
  return false;
}
