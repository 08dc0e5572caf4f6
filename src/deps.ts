import type { Config } from './config/load.js';
import type { Db } from './db/knex.js';
import { isDbUnavailable } from './db/unavailable.js';
import { isKvUnavailable } from './kv/unavailable.js';
import type { KvStore } from './kv/store.js';
import type { Mailer } from './mail/mailer.js';
import type { Passwords } from './security/passwords.js';
import type { RateLimits } from './security/rate-limit.js';
import type { Secrets } from './security/secrets.js';

/** What services need from the outside world; built once by app.ts (or the CLI). */
export interface Deps {
  config: Config;
  db: Db;
  kv: KvStore;
  secrets: Secrets;
  passwords: Passwords;
  /** Key prefix separating deployments or test runs sharing one Redis. */
  kvPrefix: string;
  /** Counters in `kv` under `kvPrefix`, shared by every node on Redis. */
  rateLimits: RateLimits;
  /** Outgoing mail (SMTP_URL, or logged), and the tasks that run after an answer. */
  mailer: Mailer;
}

/** Who did it, for the audit trail. */
export interface Actor {
  id: string; // "user:<id>", "client:<id>", "cli", "system"
  ip?: string | null;
  userAgent?: string | null;
}

export const CLI_ACTOR: Actor = { id: 'cli' };
export const SYSTEM_ACTOR: Actor = { id: 'system' };

/**
 * This node's master key no longer fits the database: a `gatehouse master-key rotate` has started
 * (or finished) since the node started. It must not seal anything new, and what it cannot open it
 * answers as unavailable (503, as /readyz already says), not as a fault.
 */
export class MasterKeyNotCurrentError extends Error {
  override name = 'MasterKeyNotCurrentError';
}

/** Postgres or Redis cannot be reached right now (or the master key is mid-rotation): answer 503 and let the connections recover. */
export function isStorageUnavailable(err: unknown): boolean {
  return isDbUnavailable(err) || isKvUnavailable(err) || err instanceof MasterKeyNotCurrentError;
}

/**
 * Such an error as a log line gives it, so an operator can tell which store failed and how:
 * `store` (redis or postgres) where the error's class or SQLSTATE says it, its name and code, the
 * peer of a socket error (`address`), and for Redis the first line of its message ("The client is
 * offline"). A database error's message is left out: it starts with the statement (knex).
 */
export function unavailableDetails(err: unknown) {
  const { name, code, message, address, port } = (err ?? {}) as { name?: unknown; code?: unknown; message?: unknown; address?: unknown; port?: unknown };
  const socket = typeof code === 'string' && /^E[A-Z]+$/.test(code); // both stores' sockets fail alike
  const store = socket ? undefined : isKvUnavailable(err) ? 'redis' : isDbUnavailable(err) ? 'postgres' : undefined;
  return {
    store, name, code,
    ...(typeof address === 'string' ? { address: typeof port === 'number' ? `${address}:${port}` : address } : {}),
    ...((store === 'redis' || err instanceof MasterKeyNotCurrentError) && typeof message === 'string' ? { message: message.split('\n')[0].slice(0, 200) } : {}),
  };
}
