import { randomBytes } from 'node:crypto';
import { recordAudit } from '../../audit/record.js';
import type { Db, Trx } from '../../db/knex.js';
import type { Actor } from '../../deps.js';
import { SEALED_COLUMNS, type SealedColumn } from '../../security/sealed-columns.js';
import { DERIVED_KEY_PURPOSES, type Secrets } from '../../security/secrets.js';
import { SYSTEM_TENANT } from '../tenants/tenants.types.js';
import { derivedKeyAad, findDerivedKeys } from './derived-keys.js';
import { CHECK_AAD, CHECK_PLAINTEXT, checkState, findCheckValue, rotatingMarker } from './master-key-check.js';

/** A rotation that cannot proceed; nothing was changed. The message is one line naming the variable. */
export class MasterKeyRotationRefused extends Error {}

export interface RotationSummary {
  tenants: number;
  /** Tenants with at least one value re-encrypted by this run. */
  tenants_changed: number;
  reencrypted: number;
  /** Values already under the new key (a re-run after an interruption, or written since). */
  already_rotated: number;
  by_column: Record<string, number>;
  /** The key that signs browser cookies was started afresh (--new-cookie-key), not carried over. */
  new_cookie_key: boolean;
}

interface RotationOptions {
  newCookieKey?: boolean;
  /** Tests only: stop after this many tenants, as a crash would. */
  failAfterTenants?: number;
  /** Tests only: runs after the tenant loop, before the last sweep (to write as a node that ignores the mark would). */
  beforeSweep?: () => Promise<void>;
}

interface Keys {
  next: Secrets;
  previous: Secrets;
}

/**
 * `gatehouse master-key rotate` (DESIGN.md "CLI"): every value of security/sealed-columns.ts is
 * re-encrypted from the previous master key to the new one, one transaction per tenant (audited
 * `master_key.rotated` in that tenant's chain).
 *
 * - **First step**, one transaction: the check value becomes a mark saying a rotation to the new
 *   key is under way, and the keys in use that cannot be re-keyed (security/secrets.ts
 *   DERIVED_KEY_PURPOSES: client secret hashes, one-time codes and cookies stay valid) are stored
 *   sealed under the new key beside it. From then on a node refuses to start (and a running one
 *   reports not ready and seals nothing new) whichever of the two keys it has.
 * - **Last step**, one transaction: the check value is sealed under the new key (with
 *   `newCookieKey`, the cookies key is replaced by a random one first); nodes on the new key start.
 *
 * Resumable: a value that opens with the new key is left alone, so a re-run after a crash
 * finishes the job. It can also be run back with the two keys swapped: the derived keys stored by
 * the first step are the ones in use before. Before anything is written every sealed value is
 * opened with one of the two keys; one that opens with neither refuses the run. One run at a time
 * (a session advisory lock on PostgreSQL; the embedded database is held by one process anyway).
 */
export async function rotateMasterKey(db: Db, keys: Keys, actor: Actor, options: RotationOptions = {}): Promise<RotationSummary> {
  const lock = await lockRotation(db);
  try {
    return await rotateLocked(db, keys, actor, options, lock.assertHeld);
  } finally {
    await lock.release();
  }
}

async function rotateLocked(db: Db, keys: Keys, actor: Actor, options: RotationOptions, assertHeld: () => Promise<void>): Promise<RotationSummary> {
  await assertEveryValueOpens(db, keys);
  const newCookieKey = options.newCookieKey === true;
  const check = await findCheckValue(db);
  // Finished already (a re-run): nothing to carry or mark; only a new cookie key, if asked for.
  const finished = check !== undefined && checkState({ secrets: keys.next }, check) === 'ok';
  if (finished) {
    if (newCookieKey) {
      await assertHeld();
      await db.transaction((trx) => replaceCookieKey(trx, keys.next, actor));
    }
  } else {
    await db.transaction(async (trx) => {
      await carryDerivedKeys(trx, keys);
      await trx('master_key_check').insert({ id: 1, sealed: rotatingMarker(keys.next) }).onConflict('id').merge(['sealed']);
    });
  }
  // The tenants as the mark left them: one made by a node that was sealing as the mark was
  // written (the mark waited for it) is in the list.
  const tenants: { id: string }[] = await db('tenants').select('id').orderBy('created_at').orderBy('id');
  const summary: RotationSummary = { tenants: tenants.length, tenants_changed: 0, reencrypted: 0, already_rotated: 0, by_column: {}, new_cookie_key: newCookieKey };
  const rotate = async (id: string) => {
    const counts = await db.transaction((trx) => rotateTenant(trx, keys, id, actor));
    summary.reencrypted += counts.reencrypted;
    summary.already_rotated += counts.already;
    if (counts.reencrypted) summary.tenants_changed++;
    for (const [name, n] of Object.entries(counts.byColumn)) summary.by_column[name] = (summary.by_column[name] ?? 0) + n;
  };
  let done = 0;
  for (const { id } of tenants) {
    if (options.failAfterTenants !== undefined && done >= options.failAfterTenants) throw new Error('master key rotation interrupted (test)');
    await rotate(id);
    done++;
  }
  // A last sweep before the rotation is declared finished: nothing may stay under the previous key
  // (a node of an earlier version, left running, seals without checking the mark).
  await options.beforeSweep?.();
  for (const id of await tenantsWithValuesNotUnder(db, keys.next)) await rotate(id);
  // Finished already: the derived keys in use are those under the new key (carrying them from
  // the previous key now would replace them with that key's own, were none stored).
  if (!finished) {
    await assertHeld();
    await db.transaction((trx) => sealGlobals(trx, keys, newCookieKey, actor));
  }
  return summary;
}

const LOCK_SCOPE = 'gatehouse.master_key_rotate';

/**
 * Two runs at once (one that only looked interrupted, and its re-run or run back) could leave the
 * data split between keys while the check value says done: a second run is refused. A session
 * lock on PostgreSQL, released when the run ends or its connection drops; `assertHeld` before the
 * last step stops a run whose lock went with its connection (another run may have started).
 */
async function lockRotation(db: Db): Promise<{ assertHeld(): Promise<void>; release(): Promise<void> }> {
  if (db.client.config.client !== 'pg') return { async assertHeld() {}, async release() {} }; // PGlite: one process holds the data folder
  const connection = await db.client.acquireConnection();
  const query = (sql: string) => new Promise<boolean>((resolve, reject) => connection.query(sql, [LOCK_SCOPE], (err: Error | null, res: { rows: { ok: boolean }[] }) => (err ? reject(err) : resolve(res.rows[0]?.ok === true))));
  try {
    if (!(await query('select pg_try_advisory_lock(hashtext($1)) as ok'))) {
      throw new MasterKeyRotationRefused('another `gatehouse master-key rotate` is running against this database; wait for it to end, then run this one again if still needed');
    }
  } catch (err) {
    await db.client.releaseConnection(connection);
    throw err;
  }
  return {
    async assertHeld() {
      // A session keeps its lock while it lives: the lock is lost only with the connection.
      const alive = await query("select count(*) > 0 as ok from pg_locks where locktype = 'advisory' and pid = pg_backend_pid() and granted and objid = hashtext($1)::oid").catch(() => false);
      if (!alive) throw new MasterKeyRotationRefused('the rotation lost its lock (its connection to PostgreSQL was closed), so another run may have started; run `gatehouse master-key rotate` again once no other run is going');
    },
    async release() {
      await query('select pg_advisory_unlock(hashtext($1)) as ok').catch(() => {});
      await db.client.releaseConnection(connection);
    },
  };
}

const columnName = (c: SealedColumn) => `${c.table}.${c.column}`;

async function tenantsWithValuesNotUnder(db: Db, key: Secrets) {
  const ids = new Set<string>();
  for (const column of SEALED_COLUMNS) {
    for (const row of await sealedRows(db, column)) if (!key.opens(String(row[column.column]), column.aad(row))) ids.add(String(row.tenant_id));
  }
  return [...ids];
}

async function sealedRows(db: Db | Trx, column: SealedColumn, tenantId?: string, lock = false) {
  const query = db(column.table).select(...column.idColumns, column.column).whereNotNull(column.column);
  if (tenantId) query.where({ tenant_id: tenantId });
  if (lock) query.forUpdate();
  return (await query) as Record<string, unknown>[];
}

async function assertEveryValueOpens(db: Db, { next, previous }: Keys) {
  const check = await findCheckValue(db);
  // The check value as either key left it: sealed under it, or marking a rotation to it under way.
  const fits = (key: Secrets) => ['ok', 'rotating'].includes(checkState({ secrets: key }, check!));
  if (check !== undefined && !fits(next) && !fits(previous)) {
    throw new MasterKeyRotationRefused('GATEHOUSE_MASTER_KEY_PREVIOUS: neither it nor GATEHOUSE_MASTER_KEY decrypts the data in this database (its check value); set it to the key the database was set up with');
  }
  // A rotation to the previous key under way (run back, or onwards) must know the keys in use
  // before it: this version's first step stored them; an earlier version's did not.
  if (check !== undefined && checkState({ secrets: previous }, check) === 'rotating') {
    const rows = await findDerivedKeys(db);
    if (!DERIVED_KEY_PURPOSES.every((p) => rows.some((r) => r.purpose === p && previous.opens(r.sealed, derivedKeyAad(p))))) {
      throw new MasterKeyRotationRefused('GATEHOUSE_MASTER_KEY_PREVIOUS: a master-key rotation to this key, started by an earlier version of Gatehouse, has not finished; finish it first (GATEHOUSE_MASTER_KEY set to this key, GATEHOUSE_MASTER_KEY_PREVIOUS to the key before it), then rotate again');
    }
  }
  for (const column of SEALED_COLUMNS) {
    for (const row of await sealedRows(db, column)) {
      const sealed = String(row[column.column]);
      const aad = column.aad(row);
      if (!next.opens(sealed, aad) && !previous.opens(sealed, aad)) {
        throw new MasterKeyRotationRefused(`GATEHOUSE_MASTER_KEY_PREVIOUS: a value in ${columnName(column)} opens with neither it nor GATEHOUSE_MASTER_KEY; set it to the key the database was set up with`);
      }
    }
  }
  for (const { purpose, sealed } of await findDerivedKeys(db)) {
    if (!next.opens(sealed, derivedKeyAad(purpose)) && !previous.opens(sealed, derivedKeyAad(purpose))) {
      throw new MasterKeyRotationRefused('GATEHOUSE_MASTER_KEY_PREVIOUS: neither it nor GATEHOUSE_MASTER_KEY decrypts the carried-over keys of this database; set it to the key the database was set up with');
    }
  }
}

async function rotateTenant(trx: Trx, { next, previous }: Keys, tenantId: string, actor: Actor) {
  const byColumn: Record<string, number> = {};
  let reencrypted = 0;
  let already = 0;
  for (const column of SEALED_COLUMNS) {
    for (const row of await sealedRows(trx, column, tenantId, true)) {
      const sealed = String(row[column.column]);
      const aad = column.aad(row);
      if (next.opens(sealed, aad)) {
        already++;
        continue;
      }
      const where = Object.fromEntries(column.idColumns.map((c) => [c, row[c]]));
      await trx(column.table).where(where).update({ [column.column]: next.encrypt(previous.decrypt(sealed, aad), aad) });
      byColumn[columnName(column)] = (byColumn[columnName(column)] ?? 0) + 1;
      reencrypted++;
    }
  }
  // Only a run that changed something is recorded: a re-run over a finished tenant adds nothing.
  if (reencrypted) {
    await recordAudit(trx, { tenantId, type: 'master_key.rotated', actor: actor.id, details: { reencrypted: byColumn, already_rotated: already, key_fingerprint: next.fingerprint } });
  }
  return { reencrypted, already, byColumn };
}

/** The carried-over derived keys and the check value, under the new key: the rotation is complete once this commits. */
async function sealGlobals(trx: Trx, keys: Keys, newCookieKey: boolean, actor: Actor) {
  await carryDerivedKeys(trx, keys);
  if (newCookieKey) await replaceCookieKey(trx, keys.next, actor);
  const check = await findCheckValue(trx);
  if (check === undefined || checkState({ secrets: keys.next }, check) !== 'ok') {
    await trx('master_key_check').insert({ id: 1, sealed: keys.next.encrypt(CHECK_PLAINTEXT, CHECK_AAD) }).onConflict('id').merge(['sealed']);
  }
}

/**
 * Stores the keys in use for each of DERIVED_KEY_PURPOSES sealed under the new master key: one
 * already under it stays; one under the previous key (carried over by an earlier rotation, or
 * stored by this rotation's first step before a run back) is re-sealed; a missing one is the
 * previous key's own derivation.
 */
async function carryDerivedKeys(trx: Trx, { next, previous }: Keys) {
  await trx('master_key_derived_keys').select('purpose').forUpdate();
  const stored = new Map((await findDerivedKeys(trx)).map((r) => [r.purpose, r.sealed]));
  for (const purpose of DERIVED_KEY_PURPOSES) {
    const aad = derivedKeyAad(purpose);
    const sealed = stored.get(purpose);
    if (sealed !== undefined && next.opens(sealed, aad)) continue;
    const inUse = sealed !== undefined && previous.opens(sealed, aad) ? previous.decrypt(sealed, aad) : previous.derivedKey(purpose).toString('base64');
    await trx('master_key_derived_keys').insert({ purpose, sealed: next.encrypt(inUse, aad) }).onConflict('purpose').merge(['sealed']);
  }
}

/**
 * A random key for cookies, so every cookie signed or sealed before no longer opens (everyone
 * signs in again). It concerns every tenant, so it is recorded once, in the system tenant's chain
 * (`master_key.cookie_key_replaced`), in the same transaction.
 */
async function replaceCookieKey(trx: Trx, next: Secrets, actor: Actor) {
  const aad = derivedKeyAad('cookies');
  await trx('master_key_derived_keys').insert({ purpose: 'cookies', sealed: next.encrypt(randomBytes(32).toString('base64'), aad) }).onConflict('purpose').merge(['sealed']);
  const system = await trx('tenants').where({ slug: SYSTEM_TENANT }).first('id');
  if (system) await recordAudit(trx, { tenantId: system.id, type: 'master_key.cookie_key_replaced', actor: actor.id, details: { key_fingerprint: next.fingerprint } });
}
