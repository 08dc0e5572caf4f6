import type { Db } from './knex.js';
import { isEmbedded } from './knex.js';

const CONNECT_TIMEOUT_MS = 5000;

/** DATABASE_URL cannot be used at start; the message names the variable and what is wrong. */
export class DatabaseUnreachableError extends Error {}

/**
 * One `select 1` within CONNECT_TIMEOUT_MS before anything else runs, so a start with a
 * DATABASE_URL that points at nothing stops with a line saying why instead of waiting on the pool.
 */
export async function checkDatabase(db: Db): Promise<void> {
  if (isEmbedded(db)) {
    await db.raw('select 1'); // opens it, so a later refusal closes a database that finished opening
    return;
  }
  const target = targetOf(db);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseUnreachableError(`DATABASE_URL: no answer from ${target.address} within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
  });
  try {
    await Promise.race([db.raw('select 1'), deadline]);
  } catch (err) {
    if (err instanceof DatabaseUnreachableError) throw err;
    throw new DatabaseUnreachableError(describe(err, target), { cause: err });
  } finally {
    clearTimeout(timer);
  }
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
    default: return `DATABASE_URL: cannot connect to ${target.address} (${code ?? (err as Error)?.name ?? 'unknown error'})`;
  }
}
