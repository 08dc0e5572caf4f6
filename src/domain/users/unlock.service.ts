import { recordAudit } from '../../audit/record.js';
import type { Actor, Deps } from '../../deps.js';
import { Lockout } from '../../security/lockout.js';
import type { Tenant } from '../tenants/tenants.types.js';

/**
 * Lifts a lockout and forgets failed attempts. The counters live in the shared kv store, so the
 * unlock holds on every node.
 */
export async function unlockAccount(deps: Pick<Deps, 'db' | 'kv' | 'kvPrefix'>, tenant: Tenant, userId: string, actor: Actor) {
  const lockout = new Lockout(deps.kv, deps.kvPrefix);
  return deps.db.transaction(async (trx) => {
    const wasLocked = await lockout.isLocked(tenant.id, userId);
    await recordAudit(trx, {
      tenantId: tenant.id, type: 'account.unlocked', actor: actor.id, subject: `user:${userId}`, ip: actor.ip, userAgent: actor.userAgent, details: { was_locked: wasLocked },
    });
    // Last, inside the transaction: if the kv store fails, the audit event is not committed either.
    await lockout.clear(tenant.id, userId);
    return wasLocked;
  });
}
