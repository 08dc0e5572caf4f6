import { hotQuery } from '../../db/hot-query.js';
import type { Db } from '../../db/knex.js';

export interface TotpFactor {
  secretEncrypted: string;
  confirmedAt: Date | null;
}

export async function findTotpFactor(db: Db, tenantId: string, userId: string): Promise<TotpFactor | undefined> {
  // On every login (hotQuery: db/hot-query.ts).
  const { rows: [row] } = await hotQuery<{ secret_encrypted: string; confirmed_at: string | Date | null }>(db,
    "select secret_encrypted, confirmed_at from user_mfa_factors where tenant_id = ? and user_id = ? and type = 'totp' limit 1", [tenantId, userId]);
  return row ? { secretEncrypted: row.secret_encrypted, confirmedAt: row.confirmed_at ? new Date(row.confirmed_at) : null } : undefined;
}

/** The user's active TOTP factor; false when one exists already (of two racing confirmations, one wins). */
export async function insertConfirmedTotp(db: Db, tenantId: string, userId: string, secretEncrypted: string) {
  const rows = await db('user_mfa_factors')
    .insert({ tenant_id: tenantId, user_id: userId, type: 'totp', secret_encrypted: secretEncrypted, confirmed_at: db.fn.now() })
    .onConflict(['tenant_id', 'user_id', 'type']).ignore()
    .returning('type');
  return rows.length > 0;
}

/** How many factors went (returning rows: knex-pglite and pg disagree on delete()'s count). */
export async function deleteTotpFactor(db: Db, tenantId: string, userId: string) {
  const rows = await db('user_mfa_factors').where({ tenant_id: tenantId, user_id: userId, type: 'totp' }).delete().returning('type');
  return rows.length;
}

export async function replaceRecoveryCodes(db: Db, tenantId: string, userId: string, hashes: string[]) {
  await db('user_recovery_codes').where({ tenant_id: tenantId, user_id: userId }).delete();
  if (!hashes.length) return;
  await db('user_recovery_codes').insert(hashes.map((code_hash) => ({ tenant_id: tenantId, user_id: userId, code_hash })));
}

/** Marks an unused code used; of two racing requests exactly one gets true. */
export async function useRecoveryCode(db: Db, tenantId: string, userId: string, hash: string) {
  const n = await db('user_recovery_codes').where({ tenant_id: tenantId, user_id: userId, code_hash: hash }).whereNull('used_at').update({ used_at: db.fn.now() });
  return n > 0;
}

export async function countUnusedRecoveryCodes(db: Db, tenantId: string, userId: string) {
  const [{ n }] = await db('user_recovery_codes').where({ tenant_id: tenantId, user_id: userId }).whereNull('used_at').count({ n: '*' });
  return Number(n);
}

/** Removes every factor and recovery code of a user; returns how many rows went. */
export async function deleteMfaOfUser(db: Db, tenantId: string, userId: string) {
  const factors = await db('user_mfa_factors').where({ tenant_id: tenantId, user_id: userId }).delete().returning('type');
  const codes = await db('user_recovery_codes').where({ tenant_id: tenantId, user_id: userId }).delete().returning('code_hash');
  return { factors: factors.map((f: { type: string }) => f.type), recoveryCodes: codes.length };
}
