import type { Trx } from './knex.js';

/**
 * A PostgreSQL advisory lock held until `trx` ends (commit or rollback), taken only when free:
 * a job that several nodes run on a timer (domain/keys/key-schedule.ts) does each piece on the
 * node that takes its lock, and the others skip it. Works the same on PGlite (one node).
 * `scope` names the job and `key` the piece; both are hashed by Postgres into the lock's two ints.
 */
export async function tryAdvisoryXactLock(trx: Trx, scope: string, key: string): Promise<boolean> {
  const result = await trx.raw('select pg_try_advisory_xact_lock(hashtext(?), hashtext(?)) as locked', [scope, key]);
  return result.rows[0]?.locked === true;
}
