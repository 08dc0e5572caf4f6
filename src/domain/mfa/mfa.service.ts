import { recordAudit } from '../../audit/record.js';
import type { Actor, Deps } from '../../deps.js';
import type { Tenant } from '../tenants/tenants.types.js';
import { deleteMfaOfUser } from './mfa.queries.js';

/** An admin reset: the user enrols again at the next login (when the tenant requires MFA). */
export async function resetMfa(deps: Pick<Deps, 'db'>, tenant: Tenant, userId: string, actor: Actor) {
  return deps.db.transaction(async (trx) => {
    const removed = await deleteMfaOfUser(trx, tenant.id, userId);
    await recordAudit(trx, {
      tenantId: tenant.id, type: 'mfa.reset', actor: actor.id, subject: userId, ip: actor.ip, userAgent: actor.userAgent,
      details: { factors: removed.factors, recovery_sheet_entries: removed.recoveryCodes }, // "code" keys are redacted
    });
    return removed;
  });
}
