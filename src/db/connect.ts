import type { Db } from './knex.js';
import { isEmbedded } from './knex.js';

const CONNECT_TIMEOUT_MS = 5000;

/**
 * The oldest PostgreSQL Gatehouse runs on: 14. The statistics check (db/statistics.ts) reads a
 * table never analyzed from `reltuples = -1`, which 14 introduced (13 and older say 0, as for an
 * empty table). 13 is past its end of life.
 */
export const MINIMUM_SERVER_VERSION_NUM = 140000;

/** DATABASE_URL cannot be used at start; the message names the variable and what is wrong. */
export class DatabaseUnreachableError extends Error {}

/**
 * One statement within CONNECT_TIMEOUT_MS before anything else runs, so a start with a
 * DATABASE_URL that points at nothing stops with a line saying why instead of waiting on the pool,
 * and a server older than MINIMUM_SERVER_VERSION_NUM stops it before a migration touches it.
 */
export async function checkDatabase(db: Db, minimum = MINIMUM_SERVER_VERSION_NUM): Promise<void> {
  if (isEmbedded(db)) {
    // Opens it, so a later refusal closes a database that finished opening.
    requireVersion(await serverVersion(db), minimum, 'the embedded database (PGlite)');
    return;
  }
  const target = targetOf(db);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseUnreachableError(`DATABASE_URL: no answer from ${target.address} within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
  });
  let version: ServerVersion;
  try {
    version = await Promise.race([serverVersion(db), deadline]);
  } catch (err) {
    if (err instanceof DatabaseUnreachableError) throw err;
    throw new DatabaseUnreachableError(describe(err, target), { cause: err });
  } finally {
    clearTimeout(timer);
  }
  requireVersion(version, minimum, `DATABASE_URL: the server at ${target.address}`);
}

interface ServerVersion {
  num: number;
  text: string;
}

async function serverVersion(db: Db): Promise<ServerVersion> {
  const { rows } = await db.raw<{ rows: { num: string | number; text: string }[] }>(
    `select current_setting('server_version_num') as num, current_setting('server_version') as text`,
  );
  return { num: Number(rows[0].num), text: String(rows[0].text).split(' ')[0] };
}

function requireVersion(version: ServerVersion, minimum: number, what: string) {
  if (version.num >= minimum) return;
  const needed = minimum >= 100000 ? `${Math.floor(minimum / 10000)}` : `${Math.floor(minimum / 10000)}.${Math.floor(minimum / 100) % 100}`;
  throw new DatabaseUnreachableError(`${what} runs PostgreSQL ${version.text}; Gatehouse needs PostgreSQL ${needed} or later`);
}

function targetOf(db: Db) {
  const connection = db.client.config.connection as string | { connectionString?: string; host?: string; port?: number; database?: string; user?: string };
  const url = typeof connection === 'string' ? connection : connection.connectionString;
  if (url) {
    const u = new URL(url);
    return { address: `${u.hostname || 'localhost'}:${u.port || 5432}`, database: decodeURIComponent(u.pathname.slice(1)), user: decodeURIComponent(u.username) };
  }
  const c = connection as { host?: string; port?: number; database?: string; user?: string };
  return { address: `${c.host ?? 'localhost'}:${c.port ?? 5432}`, database: c.database ?? '', user: c.user ?? '' };
}

function describe(err: unknown, target: ReturnType<typeof targetOf>) {
  const e = err as { code?: string; errors?: { code?: string }[] } | null;
  const code = e?.code ?? (err instanceof AggregateError ? e?.errors?.[0]?.code : undefined);
  switch (code) {
    case 'ECONNREFUSED': return `DATABASE_URL: connection refused at ${target.address}`;
    case 'ENOTFOUND': case 'EAI_AGAIN': return `DATABASE_URL: host ${target.address.replace(/:\d+$/, '')} not found`;
    case '3D000': return `DATABASE_URL: database "${target.database}" does not exist on ${target.address}; create it with: createdb -h ${target.address.replace(/:(\d+)$/, ' -p $1')}${target.user ? ` -U ${target.user}` : ''} ${target.database} (or in psql: CREATE DATABASE "${target.database}";)`;
    case '28P01': case '28000': return `DATABASE_URL: ${target.address} refused user "${target.user}" (authentication failed)`;
    // 08001 is what db/knex.ts gives a failure to connect that came without a code: its words say more.
    default: return `DATABASE_URL: cannot connect to ${target.address} (${code && code !== '08001' ? code : reasonOf(err)})`;
  }
}

/** An error without a code, in a few words: its message on one line ("Socket closed unexpectedly"), else its name. */
function reasonOf(err: unknown) {
  const message = err instanceof Error ? err.message.split('\n')[0].trim().slice(0, 160) : '';
  return message || (err as Error | null)?.name || 'unknown error';
}
