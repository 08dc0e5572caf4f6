import { recordAudit } from '../../audit/record.js';
import type { Actor, Deps } from '../../deps.js';
import type { Tenant } from '../tenants/tenants.types.js';
import { deleteOidcPayloadsOfAccount } from '../users/users.queries.js';
import { deleteSessionsAndGrants, findSessionOfUser, findSessionsOfUser } from './sessions.queries.js';

/**
 * Ends sessions of a user: one (`sessionId`) or all. Their grants go with them, so refresh tokens
 * issued under them stop working at once, and a code not yet redeemed finds no grant.
 * Returns how many sessions ended, or undefined when the named session does not exist.
 */
export async function revokeUserSessions(deps: Pick<Deps, 'db'>, tenant: Tenant, userId: string, actor: Actor, sessionId?: string) {
  return deps.db.transaction(async (trx) => {
    const sessions = sessionId === undefined
      ? await findSessionsOfUser(trx, tenant.id, userId)
      : [await findSessionOfUser(trx, tenant.id, userId, sessionId)].filter((s) => s !== undefined);
    if (sessionId !== undefined && sessions.length === 0) return undefined;
    // "Sign out everywhere" also ends grants no live session holds any more (offline_access).
    const removed = sessionId === undefined
      ? await deleteOidcPayloadsOfAccount(trx, tenant.id, userId)
      : await deleteSessionsAndGrants(trx, tenant.id, userId, sessions);
    if (removed > 0) {
      await recordAudit(trx, {
        tenantId: tenant.id, type: 'session.revoked', actor: actor.id, subject: userId, ip: actor.ip, userAgent: actor.userAgent,
        details: { sessions: sessions.map((s) => s.id), grants: sessions.reduce((n, s) => n + s.grantIds.length, 0) },
      });
    }
    return sessions.length;
  });
}
