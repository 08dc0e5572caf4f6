import { EventEmitter } from 'node:events';
import type { Db, Trx } from '../db/knex.js';

/**
 * What changed in a tenant, so nodes that cache it drop their copy (tenancy/registry.ts).
 * 'users': a user's record (profile, email, disabled, deletion, password) or role assignments.
 */
export type ChangeArea = 'tenant' | 'clients' | 'keys' | 'rbac' | 'users';
export const CHANGE_AREAS: readonly ChangeArea[] = ['tenant', 'clients', 'keys', 'rbac', 'users'];

/** The Postgres channel every node LISTENs on (tenancy/change-feed.ts). */
export const CHANGE_CHANNEL = 'gatehouse_changes';

export interface Change {
  tenantId: string;
  area: ChangeArea;
}

export const encodeChange = (c: Change) => `${c.area} ${c.tenantId}`;

export function decodeChange(payload: string): Change | undefined {
  const [area, tenantId] = payload.split(' ');
  return CHANGE_AREAS.includes(area as ChangeArea) && tenantId ? { area: area as ChangeArea, tenantId } : undefined;
}

/**
 * Changes made through one knex instance, told to the caches of that same instance as soon as
 * they commit: NOTIFY reaches the node's own listener a little later (its own connection), and
 * an admin answer must not race it. Keyed by the knex config object, which a transaction shares
 * with the knex that opened it; a second node in the same process (tests) has its own, so it
 * learns only through Postgres, as a node on another machine would.
 */
const committed = new WeakMap<object, EventEmitter>();

export function localChanges(db: Db | Trx): EventEmitter {
  const key = db.client.config as object;
  let emitter = committed.get(key);
  if (!emitter) {
    emitter = new EventEmitter();
    emitter.setMaxListeners(0);
    committed.set(key, emitter);
  }
  return emitter;
}

/**
 * Announces a change inside the transaction that makes it. Services call this for every write
 * that a cache on any node could hold. pg_notify inside a transaction is delivered to every
 * listener when (and only if) it commits; the listening side lives in tenancy/.
 */
export async function announceChange(db: Db | Trx, tenantId: string, area: ChangeArea): Promise<void> {
  const change = { tenantId, area };
  await db.raw('select pg_notify(?, ?)', [CHANGE_CHANNEL, encodeChange(change)]);
  const emit = () => localChanges(db).emit('change', change);
  // Runs before the caller's `await db.transaction(...)` resumes (earlier-registered reaction).
  // On rollback too: dropping a cache entry for nothing is harmless.
  const execution = (db as { executionPromise?: Promise<unknown> }).executionPromise;
  if (execution) execution.then(emit, emit);
  else emit();
}
