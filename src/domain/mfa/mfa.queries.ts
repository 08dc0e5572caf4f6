import type { Db } from '../../db/knex.js';

/** Removes every factor and recovery code of a user; returns how many rows went. */
export async function deleteMfaOfUser(db: Db, tenantId: string, userId: string) {
  const factors = await db('user_mfa_factors').where({ tenant_id: tenantId, user_id: userId }).delete().returning('type');
  const codes = await db('user_recovery_codes').where({ tenant_id: tenantId, user_id: userId }).delete().returning('code_hash');
  return { factors: factors.map((f: { type: string }) => f.type), recoveryCodes: codes.length };
}
