import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from './knex.js';

/**
 * One statement, for the paths every login and token grant takes (the oidc-provider adapter,
 * the audit append, the account lookups). Written with `?` placeholders, as for `db.raw`.
 *
 * On PostgreSQL it runs on a connection of knex's own pool, straight through `pg`: knex's query
 * runner costs about as much CPU again as sending the statement and reading its answer (the bench
 * machine: 350 µs against 165 µs per statement), and a login runs thirteen. Same pool, same
 * connections, same errors (`pg`'s, which knex passes on), so outages answer 503 as before. No
 * named prepared statements: a rolling upgrade that adds a column, or PgBouncer in transaction
 * mode, would break them. Knex's `query` and `query-response` events are still emitted when
 * something listens (the bench counts queries with them). Inside a transaction, and on the
 * embedded PGlite, it is `db.raw`.
 */
export async function hotQuery<Row = Record<string, any>>(db: Db, sql: string, values: readonly Knex.RawBinding[]): Promise<{ rows: Row[] }> {
  // Checked before either path, so a mistake fails alike on PostgreSQL and PGlite, and as a
  // mistake: PostgreSQL would answer a wrong count with SQLSTATE 08P01, which reads as an outage.
  const { text, placeholders } = numbered(sql);
  if (values.length !== placeholders) throw new TypeError(`hotQuery: ${placeholders} placeholders, ${values.length} values`);
  if (values.includes(undefined as never)) throw new TypeError('hotQuery: undefined value (bind null)');
  if (db.isTransaction || db.client.config.client !== 'pg') return (await db.raw(sql, values)) as { rows: Row[] };
  const event = db.listenerCount('query') || db.listenerCount('query-response')
    ? { sql: text, bindings: values, method: 'raw', __knexQueryUid: randomUUID() }
    : undefined;
  if (event) db.emit('query', event);
  const connection = await db.client.acquireConnection();
  try {
    const result = (await connection.query(text, values)) as { rows: Row[] };
    if (event) db.emit('query-response', result, event);
    return result;
  } finally {
    // A connection whose session the server ended is marked before this (db/knex.ts), and the
    // pool replaces it.
    db.client.releaseConnection(connection);
  }
}

/** `?` placeholders as `$1, $2, …`, once per statement (the statements are constants). */
const texts = new Map<string, { text: string; placeholders: number }>();

function numbered(sql: string) {
  let found = texts.get(sql);
  if (found === undefined) {
    // knex's `??` (an identifier) and `\?` (a literal ?) mean other things in db.raw.
    if (/\?\?|\\\?/.test(sql)) throw new TypeError('hotQuery: ?? and \\? are not supported');
    let n = 0;
    found = { text: sql.replace(/\?/g, () => `$${++n}`), placeholders: n };
    if (texts.size < 1000) texts.set(sql, found);
  }
  return found;
}
