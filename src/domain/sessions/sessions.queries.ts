import type { Db } from '../../db/knex.js';
import { ENDED_MODEL_NAMES, endSessionsAndGrants, endSessionsByUid } from '../../provider/adapters/postgres.js';
import type { UserSession } from './sessions.types.js';

function toSession(row: any): UserSession {
  const payload = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
  const authorizations: Record<string, { grantId?: string; sid?: string }> = payload.authorizations ?? {};
  const loginTs = Number(payload.loginTs ?? payload.iat);
  return {
    id: payload.uid ?? row.uid,
    userId: row.account_id,
    createdAt: Number.isFinite(loginTs) ? new Date(loginTs * 1000) : new Date(row.created_at),
    lastUsedAt: new Date(row.updated_at ?? row.created_at),
    ip: row.ip ?? null,
    userAgent: row.user_agent ?? null,
    clientIds: Object.keys(authorizations).sort(),
    grantIds: Object.values(authorizations).map((a) => a.grantId).filter((g): g is string => typeof g === 'string'),
    sids: Object.fromEntries(Object.entries(authorizations).flatMap(([clientId, a]) => (typeof a.sid === 'string' ? [[clientId, a.sid]] : []))),
  };
}

const liveSessions = (db: Db, tenantId: string, userId: string) =>
  db('oidc_payloads')
    .where({ tenant_id: tenantId, model: 'Session', account_id: userId })
    .whereNull('consumed_at')
    .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', new Date()));

/** A user's live sessions, most recently used first. */
export async function findSessionsOfUser(db: Db, tenantId: string, userId: string) {
  const rows = await liveSessions(db, tenantId, userId).orderBy([{ column: 'updated_at', order: 'desc' }, { column: 'id', order: 'asc' }]);
  return rows.map(toSession);
}

export async function findSessionOfUser(db: Db, tenantId: string, userId: string, uid: string) {
  const row = await liveSessions(db, tenantId, userId).andWhere({ uid }).first();
  return row ? toSession(row) : undefined;
}

/**
 * Ends sessions by uid and their grants (tombstones: provider/adapters/postgres.ts), and deletes
 * every artifact of those grants (refresh and access tokens included). The grants are those the
 * sessions held when they ended, besides those `sessions` (an earlier read) names; the grants end
 * before their tokens are deleted, so a token issued from one meanwhile finds no grant to use.
 */
export async function deleteSessionsAndGrants(db: Db, tenantId: string, userId: string, sessions: UserSession[]) {
  const uids = sessions.map((s) => s.id);
  if (uids.length === 0) return 0;
  const { ended, grantIds: held } = await endSessionsByUid(db, tenantId, userId, uids);
  const grantIds = [...new Set([...sessions.flatMap((s) => s.grantIds), ...held])];
  let removed = ended;
  if (grantIds.length) {
    removed += await endSessionsAndGrants(db, tenantId, (q) => q.where({ model: 'Grant' }).whereIn('id', grantIds));
    // Tokens and codes carry grant_id; the Grant itself is the row whose id it is.
    removed += (await db('oidc_payloads').where({ tenant_id: tenantId }).whereIn('grant_id', grantIds).whereNotIn('model', ENDED_MODEL_NAMES).delete().returning('id')).length;
  }
  return removed;
}
