import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from './knex.js';

/**
 * One statement outside any transaction, for the paths every login and token grant takes (the
 * oidc-provider adapter, the audit append, the account lookups). Written with `?` placeholders,
 * as for `db.raw`.
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
  if (db.isTransaction || db.client.config.client !== 'pg') return (await db.raw(sql, values)) as { rows: Row[] };
  const text = numbered(sql);
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
    db.client.releaseConnection(connection);
  }
}

/** `?` placeholders as `$1, $2, …`, once per statement (the statements are constants). */
const texts = new Map<string, string>();

function numbered(sql: string) {
  let text = texts.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    if (texts.size < 1000) texts.set(sql, text);
  }
  return text;
}
