import { recordAudit } from '../../audit/record.js';
import type { Db, Trx } from '../../db/knex.js';
import type { Actor } from '../../deps.js';
import { SEALED_COLUMNS, type SealedColumn } from '../../security/sealed-columns.js';
import { DERIVED_KEY_PURPOSES, type Secrets } from '../../security/secrets.js';
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

interface Keys {
  next: Secrets;
  previous: Secrets;
}

/**
 * `gatehouse master-key rotate` (DESIGN.md "CLI"): every value of security/sealed-columns.ts is
 * re-encrypted from the previous master key to the new one, one transaction per tenant (audited
 * `master_key.rotated` in that tenant's chain); then, in one last transaction, the keys derived
 * from the previous master key that cannot be re-keyed (security/secrets.ts
 * DERIVED_KEY_PURPOSES: client secret hashes, one-time codes and cookies stay valid) are stored
 * sealed under the new key, and the check value (migration 006) is sealed under it. From the first
 * step to that last one the check value says a rotation is under way, and a node refuses to start
 * (and a running one reports not ready) whichever of the two keys it has, as the job is not done.
 *
 * Resumable: a value that opens with the new key is left alone, so a re-run after a crash
 * finishes the job. Before anything is written every sealed value is opened with one of the two
 * keys; one that opens with neither (a wrong GATEHOUSE_MASTER_KEY_PREVIOUS) refuses the run.
 */
export async function rotateMasterKey(db: Db, keys: Keys, actor: Actor, options: { failAfterTenants?: number; newCookieKey?: boolean } = {}): Promise<RotationSummary> {
  await assertEveryValueOpens(db, keys);
  const tenants: { id: string }[] = await db('tenants').select('id').orderBy('created_at').orderBy('id');
  const summary: RotationSummary = { tenants: tenants.length, tenants_changed: 0, reencrypted: 0, already_rotated: 0, by_column: {}, new_cookie_key: false };
  // From here until sealGlobals commits, nodes on either key refuse to start and report not ready
  // (master-key-check.ts ROTATING_PLAINTEXT): a node on the old key would fail the tenants already
  // re-encrypted, one on the new key those not yet.
  // A re-run after the rotation finished changes nothing and leaves the nodes on the new key alone.
  const check = await findCheckValue(db);
  // Finished already (a re-run): the keys in use are the new key's, nothing to carry or mark.
  const finished = check !== undefined && checkState({ secrets: keys.next }, check) === 'ok';
  // Going back: the two variables swapped after an interrupted rotation to GATEHOUSE_MASTER_KEY_PREVIOUS.
  const undo = check !== undefined && checkState({ secrets: keys.previous }, check) === 'rotating';
  if (!finished) {
    await db.transaction(async (trx) => {
      // The derived keys in use are stored under the new key first, with the marker: whichever way
      // the rotation then goes (resumed, or run back with the variables swapped), it knows them.
      await carryDerivedKeys(trx, keys, undo, options.newCookieKey === true);
      await trx('master_key_check').insert({ id: 1, sealed: rotatingMarker(keys.next) }).onConflict('id').merge(['sealed']);
    });
  }
  let done = 0;
  for (const { id } of tenants) {
    if (options.failAfterTenants !== undefined && done >= options.failAfterTenants) throw new Error('master key rotation interrupted (test)');
    const counts = await db.transaction((trx) => rotateTenant(trx, keys, id, actor));
    summary.reencrypted += counts.reencrypted;
    summary.already_rotated += counts.already;
    if (counts.reencrypted) summary.tenants_changed++;
    for (const [name, n] of Object.entries(counts.byColumn)) summary.by_column[name] = (summary.by_column[name] ?? 0) + n;
    done++;
  }
  if (!finished) await db.transaction((trx) => sealGlobals(trx, keys));
  summary.new_cookie_key = !finished && options.newCookieKey === true;
  return summary;
}

const columnName = (c: SealedColumn) => `${c.table}.${c.column}`;

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
async function sealGlobals(trx: Trx, keys: Keys) {
  await carryDerivedKeys(trx, keys, false, false);
  const check = await findCheckValue(trx);
  if (check === undefined || checkState({ secrets: keys.next }, check) !== 'ok') {
    await trx('master_key_check').insert({ id: 1, sealed: keys.next.encrypt(CHECK_PLAINTEXT, CHECK_AAD) }).onConflict('id').merge(['sealed']);
  }
}

/**
 * Stores the keys in use for each of DERIVED_KEY_PURPOSES sealed under the new master key: one
 * already under it stays; one under the previous key (carried over by an earlier rotation) is
 * re-sealed; a missing one is the previous key's own derivation, or, when going back (`undo`), the
 * new key's, which the data was under before the interrupted rotation began. With `newCookieKey`
 * the cookies key becomes the new master key's own (sessions made before no longer open).
 */
async function carryDerivedKeys(trx: Trx, { next, previous }: Keys, undo: boolean, newCookieKey: boolean) {
  await trx('master_key_derived_keys').select('purpose').forUpdate();
  const stored = new Map((await findDerivedKeys(trx)).map((r) => [r.purpose, r.sealed]));
  for (const purpose of DERIVED_KEY_PURPOSES) {
    const aad = derivedKeyAad(purpose);
    const sealed = stored.get(purpose);
    if (newCookieKey && purpose === 'cookies') {
      await trx('master_key_derived_keys').insert({ purpose, sealed: next.encrypt(next.derivedKey(purpose).toString('base64'), aad) }).onConflict('purpose').merge(['sealed']);
      continue;
    }
    if (sealed !== undefined && next.opens(sealed, aad)) continue;
    const inUse = sealed !== undefined && previous.opens(sealed, aad) ? previous.decrypt(sealed, aad) : (undo ? next : previous).derivedKey(purpose).toString('base64');
    await trx('master_key_derived_keys').insert({ purpose, sealed: next.encrypt(inUse, aad) }).onConflict('purpose').merge(['sealed']);
  }
}
