import type { Db, Trx } from '../../db/knex.js';
import { MasterKeyNotCurrentError, type Deps } from '../../deps.js';
import { signingKeyAad } from '../../security/sealed-columns.js';

export const CHECK_AAD = 'gatehouse/master-key-check/v1';
export const CHECK_PLAINTEXT = 'gatehouse master key check';
/**
 * What the check value holds, sealed under the new key, while `gatehouse master-key rotate` runs:
 * part of the data is under the new key and part under the old, so no node may serve, whichever
 * of the two it has, until the rotation has finished (it seals CHECK_PLAINTEXT then).
 */
export const ROTATING_PLAINTEXT = 'gatehouse master key rotation in progress';
/** Before the marker, in the clear: a node on the old key (which cannot open it) can tell too. */
export const ROTATING_PREFIX = 'rotating:';
/** Enough of the sealed signing keys to know the key fits, without reading every tenant's at start. */
const SAMPLE = 100;

/** The master key does not decrypt what the database holds; the message names GATEHOUSE_MASTER_KEY. */
export class MasterKeyMismatchError extends Error {}

const MISMATCH = 'GATEHOUSE_MASTER_KEY: this key does not decrypt the data in this database (%s); start with the key the database was set up with, or the new one once a master-key rotation has finished';

/**
 * DESIGN.md "Configuration": a node whose master key cannot decrypt the database never starts.
 * The first start seals a check value; later starts open it. A database from before the check
 * (signing keys but no check value) gets one once its signing keys are shown to decrypt.
 */
export async function checkMasterKey(deps: Pick<Deps, 'db' | 'secrets'>): Promise<void> {
  let sealed = await findCheckValue(deps.db);
  if (sealed === undefined) {
    await assertSigningKeysDecrypt(deps);
    await deps.db('master_key_check').insert({ id: 1, sealed: deps.secrets.encrypt(CHECK_PLAINTEXT, CHECK_AAD) }).onConflict('id').ignore();
    // Nodes starting together on a fresh database: the first insert wins, and every node checks that one.
    sealed = (await findCheckValue(deps.db))!;
  }
  const state = checkState(deps, sealed);
  if (state === 'rotating') throw new MasterKeyMismatchError(ROTATING.replace('%s', 'to this key'));
  if (state === 'rotating-elsewhere') throw new MasterKeyMismatchError(ROTATING.replace('%s', 'to another key'));
  if (state !== 'ok') throw new MasterKeyMismatchError(MISMATCH.replace('%s', 'its check value does not decrypt'));
}

const ROTATING = 'GATEHOUSE_MASTER_KEY: a master-key rotation %s is under way or was interrupted (part of the data is under the old key, part under the new); wait for `gatehouse master-key rotate` to finish, or run it again if it stopped, then start with the new key';

/** For /readyz: the stored check value still opens with this node's key (false: none yet, or another key). */
export async function masterKeyOpensCheckValue(deps: Pick<Deps, 'db' | 'secrets'>): Promise<boolean> {
  const sealed = await findCheckValue(deps.db);
  return sealed !== undefined && checkState(deps, sealed) === 'ok';
}

export async function findCheckValue(db: Db): Promise<string | undefined> {
  const row = await db('master_key_check').where({ id: 1 }).first('sealed');
  return row?.sealed;
}

/**
 * ok: this key, nothing under way; rotating: a rotation to this key not finished;
 * rotating-elsewhere: a rotation to another key not finished; other: another key.
 */
export function checkState(deps: Pick<Deps, 'secrets'>, sealed: string): 'ok' | 'rotating' | 'rotating-elsewhere' | 'other' {
  const rotating = sealed.startsWith(ROTATING_PREFIX);
  let plaintext: string;
  try {
    plaintext = deps.secrets.decrypt(rotating ? sealed.slice(ROTATING_PREFIX.length) : sealed, CHECK_AAD);
  } catch {
    return rotating ? 'rotating-elsewhere' : 'other'; // AES-GCM authentication failed: another key
  }
  if (rotating) return plaintext === ROTATING_PLAINTEXT ? 'rotating' : 'other';
  return plaintext === CHECK_PLAINTEXT ? 'ok' : 'other';
}

/**
 * Inside the transaction that stores a value sealed with this node's master key: refuses (503)
 * unless the check value opens with that key and marks no rotation. The row is read FOR SHARE, so
 * a `gatehouse master-key rotate` starting meanwhile waits for this transaction to end (its mark
 * updates the row) and then re-encrypts what it stored; one that started before is seen here. A
 * node left running on the old key during a rotation thus never leaves a value under it behind.
 */
export async function assertSealingKeyCurrent(trx: Trx | Db, secrets: Deps['secrets']) {
  const row = await trx('master_key_check').where({ id: 1 }).forShare().first('sealed');
  if (row === undefined) return; // sealed at the first start, before anything else is written
  if (checkState({ secrets }, row.sealed) !== 'ok') {
    throw new MasterKeyNotCurrentError('this node\'s GATEHOUSE_MASTER_KEY no longer fits the database (a master-key rotation has started or finished since it started)');
  }
}

/** The check value marking a rotation to `next` as under way (master-key-rotation.ts). */
export const rotatingMarker = (next: Pick<Deps['secrets'], 'encrypt'>) => `${ROTATING_PREFIX}${next.encrypt(ROTATING_PLAINTEXT, CHECK_AAD)}`;

async function assertSigningKeysDecrypt(deps: Pick<Deps, 'db' | 'secrets'>) {
  const rows = await deps.db('signing_keys').select('tenant_id', 'kid', 'private_jwk_encrypted').orderBy('created_at', 'desc').limit(SAMPLE);
  for (const row of rows) {
    try {
      deps.secrets.decrypt(row.private_jwk_encrypted, signingKeyAad(row.tenant_id, row.kid));
    } catch {
      throw new MasterKeyMismatchError(MISMATCH.replace('%s', `signing key ${row.kid} does not decrypt`));
    }
  }
}
