import { recordAudit } from '../../audit/record.js';
import { lockTenantRow } from '../../db/knex.js';
import type { Actor, Deps } from '../../deps.js';
import type { Tenant } from '../tenants/tenants.types.js';
import { deleteOidcPayloadsOfAccount } from '../users/users.queries.js';
import { deleteSessionsAndGrants, findSessionOfUser, findSessionsOfUser } from './sessions.queries.js';
import type { SessionsEnded, UserSession } from './sessions.types.js';

/**
 * Ends sessions of a user: one (`sessionId`) or all. Their grants go with them, so refresh tokens
 * issued under them stop working at once, and a code not yet redeemed finds no grant.
 * Returns how many sessions ended, or undefined when the named session does not exist.
 * `ended` hears of the sessions once that has committed.
 */
export async function revokeUserSessions(deps: Pick<Deps, 'db'>, tenant: Tenant, userId: string, actor: Actor, sessionId?: string, ended?: SessionsEnded) {
  let sessions: UserSession[] = [];
  const count = await deps.db.transaction(async (trx) => {
    sessions = sessionId === undefined
      ? await findSessionsOfUser(trx, tenant.id, userId)
      : [await findSessionOfUser(trx, tenant.id, userId, sessionId)].filter((s) => s !== undefined);
    if (sessionId !== undefined && sessions.length === 0) return undefined;
    // "Sign out everywhere" also ends grants no live session holds any more (offline_access).
    const removed = sessionId === undefined
      ? await deleteOidcPayloadsOfAccount(trx, tenant.id, userId)
      : await deleteSessionsAndGrants(trx, tenant.id, userId, sessions);
    if (removed > 0) {
      await recordAudit(trx, {
        tenantId: tenant.id, type: 'session.revoked', actor: actor.id, subject: `user:${userId}`, ip: actor.ip, userAgent: actor.userAgent,
        details: { sessions: sessions.map((s) => s.id), grants: sessions.reduce((n, s) => n + s.grantIds.length, 0) },
      });
    }
    return sessions.length;
  });
  if (sessions.length) ended?.(tenant, sessions);
  return count;
}

/**
 * Ends every session of a user but `keepId` (after a password change: whoever else held the old
 * password is signed out), with their grants and refresh tokens. Returns how many ended.
 */
export async function revokeOtherSessions(deps: Pick<Deps, 'db'>, tenant: Tenant, userId: string, keepId: string, actor: Actor, reason: string, ended?: SessionsEnded) {
  let others: UserSession[] = [];
  await deps.db.transaction(async (trx) => {
    others = (await findSessionsOfUser(trx, tenant.id, userId)).filter((s) => s.id !== keepId);
    if (others.length === 0) return;
    await deleteSessionsAndGrants(trx, tenant.id, userId, others);
    await recordAudit(trx, {
      tenantId: tenant.id, type: 'session.revoked', actor: actor.id, subject: `user:${userId}`, ip: actor.ip, userAgent: actor.userAgent,
      details: { reason, sessions: others.map((s) => s.id), grants: others.reduce((n, s) => n + s.grantIds.length, 0) },
    });
  });
  if (others.length) ended?.(tenant, others);
  return others.length;
}

/**
 * Keeps a user to `limit` live sessions (tenant setting max_sessions_per_user, 0 = no limit): the
 * least recently created ones beyond it end with their grants, never the session `keepId`.
 */
export async function enforceSessionLimit(deps: Pick<Deps, 'db'>, tenant: Tenant, userId: string, keepId: string, limit: number) {
  if (limit <= 0) return 0;
  return deps.db.transaction(async (trx) => {
    // Two logins of one user at once: the second waits, then sees the first's session.
    await lockTenantRow(trx, 'users', tenant.id, { id: userId });
    const sessions = (await findSessionsOfUser(trx, tenant.id, userId)).sort((x, y) => y.createdAt.getTime() - x.createdAt.getTime());
    const kept = sessions.find((s) => s.id === keepId);
    const others = sessions.filter((s) => s !== kept);
    const evicted = others.slice(Math.max(0, limit - (kept ? 1 : 0)));
    if (evicted.length === 0) return 0;
    await deleteSessionsAndGrants(trx, tenant.id, userId, evicted);
    await recordAudit(trx, {
      tenantId: tenant.id, type: 'session.revoked', actor: 'system', subject: `user:${userId}`,
      details: { reason: 'max_sessions_per_user', limit, sessions: evicted.map((s) => s.id) },
    });
    return evicted.length;
  });
}
