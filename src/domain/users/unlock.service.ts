import { recordAuditNow } from '../../audit/record.js';
import type { Actor, Deps } from '../../deps.js';
import { Lockout } from '../../security/lockout.js';
import type { Tenant } from '../tenants/tenants.types.js';

/**
 * Lifts a lockout and forgets failed attempts. The counters live in the shared kv store, so the
 * unlock holds on every node; the audit event is written once the kv change is done.
 */
export async function unlockAccount(deps: Pick<Deps, 'db' | 'kv' | 'kvPrefix'>, tenant: Tenant, userId: string, actor: Actor) {
  const lockout = new Lockout(deps.kv, deps.kvPrefix);
  const wasLocked = await lockout.isLocked(tenant.id, userId);
  await lockout.clear(tenant.id, userId);
  await recordAuditNow(deps.db, {
    tenantId: tenant.id, type: 'account.unlocked', actor: actor.id, subject: userId, ip: actor.ip, userAgent: actor.userAgent, details: { was_locked: wasLocked },
  });
  return wasLocked;
}
