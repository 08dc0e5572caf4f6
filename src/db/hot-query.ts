import { createHash, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { PGlite } from '@electric-sql/pglite';
import type { Knex } from 'knex';
import { isEmbedded, type Db } from './knex.js';

/**
 * One statement, for the paths every login and token grant takes (the oidc-provider adapter,
 * the audit append, the account lookups). Written with `?` placeholders, as for `db.raw`.
 *
 * On PostgreSQL it runs on a connection of knex's own pool, straight through `pg`: knex's query
 * runner costs about as much CPU again as sending the statement and reading its answer (the bench
 * machine: 350 µs against 165 µs per statement), and a login runs twelve. Same pool, same
 * connections, same errors (`pg`'s, which knex passes on), so outages answer 503 as before.
 * Knex's `query` and `query-response` events are still emitted when something listens (the bench
 * counts queries with them). Inside a transaction it is `db.raw`.
 *
 * Each statement is a named prepared statement on each connection: parsed and analyzed once per
 * connection instead of at every call, which was about 40% of PostgreSQL's CPU per login. Both
 * refusals a server can answer come before the statement ran, so running it again is safe:
 * - a schema changed under a running node (a rolling upgrade's migration): "cached plan must not
 *   change result type" for that statement on that connection. It is prepared anew there, and
 *   nothing else changes.
 * - a pooler in transaction mode, which hands the next call to another server connection ("does
 *   not exist", "already exists"): it runs again unnamed, and this process names no statement
 *   from then on (`db` emits 'prepared-statements-off' once, for the log).
 *
 * On the embedded PGlite (one connection, knex-pglite's) each statement is prepared once too, and
 * a call is one trip into the database (bind, describe, execute, sync) where PGlite's `query`
 * makes six (parse, describe, bind, describe, execute, sync): see sendEmbedded.
 */
export async function hotQuery<Row = Record<string, any>>(db: Db, sql: string, values: readonly Knex.RawBinding[]): Promise<{ rows: Row[] }> {
  // Checked before either path, so a mistake fails alike on PostgreSQL and PGlite, and as a
  // mistake: PostgreSQL would answer a wrong count with SQLSTATE 08P01, which reads as an outage.
  const statement = numbered(sql);
  const { text, placeholders } = statement;
  if (values.length !== placeholders) throw new TypeError(`hotQuery: ${placeholders} placeholders, ${values.length} values`);
  if (values.includes(undefined as never)) throw new TypeError('hotQuery: undefined value (bind null)');
  const embedded = isEmbedded(db);
  if (db.isTransaction || (db.client.config.client !== 'pg' && !embedded)) return (await db.raw(sql, values)) as { rows: Row[] };
  const event = db.listenerCount('query') || db.listenerCount('query-response')
    ? { sql: text, bindings: values, method: 'raw', __knexQueryUid: randomUUID() }
    : undefined;
  if (event) db.emit('query', event);
  const connection = await db.client.acquireConnection();
  try {
    const result = (await (embedded ? sendEmbedded(connection, statement, values) : send(db, connection, statement, values))) as { rows: Row[] };
    if (event) db.emit('query-response', result, event);
    return result;
  } finally {
    // A connection whose session the server ended is marked before this (db/knex.ts), and the
    // pool replaces it.
    db.client.releaseConnection(connection);
  }
}

interface Statement {
  text: string;
  placeholders: number;
  /** The prepared statement's name: the same text gets the same name on every connection. */
  name: string;
}

/** Off for the rest of the process once a server refused a named statement. */
let naming = true;

type PgConnection = {
  query(config: { name?: string; text: string; values: readonly Knex.RawBinding[] } | string, values?: readonly Knex.RawBinding[]): Promise<unknown>;
  /** pg's record of the names this connection has prepared (pg 8). */
  connection?: { parsedStatements?: Record<string, string> };
};

async function send(db: Db, connection: PgConnection, statement: Statement, values: readonly Knex.RawBinding[]) {
  if (!naming) return connection.query(statement.text, values);
  const named = { name: statement.name, text: statement.text, values };
  try {
    return await connection.query(named);
  } catch (err) {
    if (staleStatement(err) && (await forget(connection, statement.name))) return connection.query(named);
    if (!refusedNamedStatement(err) && !staleStatement(err)) throw err;
    if (naming) {
      naming = false;
      db.emit('prepared-statements-off', { code: (err as { code?: string }).code, message: (err as Error).message });
    }
    return connection.query(statement.text, values);
  }
}

/** A name the server does not have, or has for another statement: a pooler between us. */
function refusedNamedStatement(err: unknown) {
  const { code } = (err ?? {}) as { code?: unknown };
  return code === '26000' || code === '42P05';
}

/** A prepared statement whose tables changed shape since it was prepared on this connection. */
function staleStatement(err: unknown) {
  // By the server's routine, not its message, which a server may speak in another language.
  const { code, routine } = (err ?? {}) as { code?: unknown; routine?: unknown };
  return code === '0A000' && routine === 'RevalidateCachedQuery';
}

/**
 * Drops a statement from the connection, on the server and in pg's record of it, so the next call
 * prepares it anew. False when pg keeps no such record (another pg version): the caller then
 * treats the refusal as the others.
 */
async function forget(connection: PgConnection, name: string) {
  const parsed = connection.connection?.parsedStatements;
  if (!parsed || typeof parsed !== 'object' || !(name in parsed)) return false;
  // The name is gh_ and base64url (db/hot-query.ts `numbered`), quoted for its case and hyphens.
  await connection.query(`deallocate "${name}"`).catch((err: { code?: string }) => {
    if (err?.code !== '26000') throw err; // already gone: nothing to drop
  });
  delete parsed[name];
  return true;
}

/** `?` placeholders as `$1, $2, …`, once per statement (the statements are constants). */
const texts = new Map<string, Statement>();

function numbered(sql: string) {
  let found = texts.get(sql);
  if (found === undefined) {
    // knex's `??` (an identifier) and `\?` (a literal ?) mean other things in db.raw.
    if (/\?\?|\\\?/.test(sql)) throw new TypeError('hotQuery: ?? and \\? are not supported');
    let n = 0;
    const text = sql.replace(/\?/g, () => `$${++n}`);
    found = { text, placeholders: n, name: `gh_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}` };
    if (texts.size < 1000) texts.set(sql, found);
  }
  return found;
}

/**
 * PGlite's own `query` sends a statement as six protocol messages, each a call into the database
 * (WebAssembly, on the event loop) and each answered by itself: parse, describe the statement (for
 * its parameter types), bind, describe the portal, execute, sync. Here a statement is parsed and
 * described once per database, and each call sends bind, describe, execute and sync in one
 * buffer: one call into the database, and no parse or analysis of the text. About 40% less CPU
 * per statement (a select by key 690 → 410 µs, an upsert 220 → 140 µs, both still planned at each
 * call then). Plans are kept as PostgreSQL keeps those of any prepared statement (db/knex.ts says
 * why that is safe): about 2.5 ms less of the event loop per login (docs/BENCHMARKS.md). Values are
 * serialized and rows parsed by PGlite's own serializers and parsers, by the types the database
 * described, as its `query` does.
 *
 * Every call holds knex's one connection, so none runs inside a transaction of knex's, and PGlite's
 * transaction and query locks, as its own `query` does, so no other statement's messages come
 * between these (its `listen` takes the same locks). An error answered by the database comes after
 * the sync in the same buffer has ended the failed statement: the connection is ready for the next.
 */
const embeddedPrepared = new WeakMap<PGlite, Map<string, number[]>>();
/** Statements beyond this many (only SQL built at run time would get there) are parsed at each call. */
const EMBEDDED_PREPARED_MAX = 1000;

async function sendEmbedded(connection: unknown, statement: Statement, values: readonly Knex.RawBinding[]) {
  const db = connection as PGlite;
  return db._runExclusiveTransaction(() => db.runExclusive(async () => {
    try {
      return await executeEmbedded(db, statement, values);
    } catch (err) {
      // As on PostgreSQL (send): a schema changed since the statement was prepared, or the database
      // and this map disagree on what is prepared: prepared anew under the same name.
      if (!staleStatement(err) && !refusedNamedStatement(err)) throw err;
      if ((err as { code?: unknown }).code === '26000') {
        // Dropped with every other statement and setting (DEALLOCATE ALL, DISCARD ALL): all anew.
        embeddedPrepared.delete(db);
      } else {
        await exec(db, serialize.close({ type: 'S', name: statement.name }), serialize.sync());
        embeddedPrepared.get(db)?.delete(statement.name);
      }
      return executeEmbedded(db, statement, values);
    }
  }));
}

/**
 * PGlite's protocol helpers from the copy knex-pglite loads (CommonJS, by require), rather than
 * its ES module build beside it.
 */
const pglite = createRequire(import.meta.url)('@electric-sql/pglite') as typeof import('@electric-sql/pglite');
const { serialize } = pglite.protocol;

async function executeEmbedded(db: PGlite, statement: Statement, values: readonly Knex.RawBinding[]) {
  let prepared = embeddedPrepared.get(db);
  if (!prepared) {
    // As db/knex.ts sets on each PostgreSQL connection: plans kept as PostgreSQL keeps them by default.
    await exec(db, serialize.query('set plan_cache_mode = auto'));
    prepared = new Map();
    embeddedPrepared.set(db, prepared);
  }
  let types = prepared.get(statement.name);
  // '' is PostgreSQL's unnamed statement, replaced by the next parse.
  const name = types || prepared.size < EMBEDDED_PREPARED_MAX ? statement.name : '';
  if (!types) {
    const described = await exec(db, serialize.parse({ name, text: statement.text }), serialize.describe({ type: 'S', name }), serialize.sync());
    const parameters = described.find((m) => m.name === 'parameterDescription') as { dataTypeIDs?: number[] } | undefined;
    types = parameters?.dataTypeIDs ?? [];
    if (name) prepared.set(name, types);
  }
  const serializers = db.serializers as Record<number, ((value: unknown) => unknown) | undefined>;
  const params = values.map((value, i) => {
    if (value === null) return null;
    const serializer = serializers[types[i]];
    const text = serializer ? serializer(value) : value;
    // Bytes go as they are; anything else as text (another value would make a malformed message).
    return text instanceof Uint8Array ? text : String(text);
  });
  const messages = await exec(db, serialize.bind({ statement: name, values: params }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync());
  // What PGlite's `query` does after a statement (nothing on its file system in Node).
  await db.syncToFs();
  const [result] = pglite.parse.parseResults(messages, db.parsers);
  return result ?? { rows: [] };
}

/** The messages sent in one call into the database; its answers (thrown: the database's error). */
async function exec(db: PGlite, ...messages: Uint8Array[]) {
  const buffer = new Uint8Array(messages.reduce((n, m) => n + m.byteLength, 0));
  let at = 0;
  for (const m of messages) {
    buffer.set(m, at);
    at += m.byteLength;
  }
  // Written back once per statement (executeEmbedded), as PGlite's `query` does, not per call.
  return db.execProtocolStream(buffer, { syncToFs: false });
}
