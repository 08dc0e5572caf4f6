import type { Db } from '../db/knex.js';
import type { ConnectionKind } from './federation.types.js';

export interface FederatedIdentityLink {
  tenantId: string;
  connectionKind: ConnectionKind;
  connectionName: string;
  subject: string;
  userId: string;
  mappedRoleIds: string[];
  createdAt: Date;
  lastLoginAt: Date;
}

const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);

function toLink(row: any): FederatedIdentityLink {
  return {
    tenantId: row.tenant_id,
    connectionKind: row.connection_kind,
    connectionName: row.connection_name,
    subject: row.subject,
    userId: row.user_id,
    mappedRoleIds: json(row.mapped_role_ids),
    createdAt: new Date(row.created_at),
    lastLoginAt: new Date(row.last_login_at),
  };
}

type Key = { kind: ConnectionKind; name: string; subject: string };
const where = (tenantId: string, key: Key) => ({ tenant_id: tenantId, connection_kind: key.kind, connection_name: key.name, subject: key.subject });

/** Locked for the login's transaction: two logins of one identity run one after the other. */
export async function findFederatedIdentity(db: Db, tenantId: string, key: Key) {
  const row = await db('federated_identities').where(where(tenantId, key)).forUpdate().first();
  return row ? toLink(row) : undefined;
}

export async function insertFederatedIdentity(db: Db, tenantId: string, key: Key, userId: string, mappedRoleIds: string[]) {
  await db('federated_identities').insert({ ...where(tenantId, key), user_id: userId, mapped_role_ids: JSON.stringify(mappedRoleIds) });
}

export async function updateFederatedIdentityLogin(db: Db, tenantId: string, key: Key, mappedRoleIds: string[]) {
  await db('federated_identities').where(where(tenantId, key)).update({ mapped_role_ids: JSON.stringify(mappedRoleIds), last_login_at: db.fn.now() });
}

/** Role ids a user holds by direct assignment (not through groups). */
export async function findDirectRoleIds(db: Db, tenantId: string, userId: string): Promise<string[]> {
  return (await db('user_roles').where({ tenant_id: tenantId, user_id: userId }).select('role_id')).map((r: any) => r.role_id);
}

export async function insertUserRoleIds(db: Db, tenantId: string, userId: string, roleIds: string[]) {
  if (roleIds.length) await db('user_roles').insert(roleIds.map((role_id) => ({ tenant_id: tenantId, user_id: userId, role_id }))).onConflict(['tenant_id', 'user_id', 'role_id']).ignore();
}

export async function deleteUserRoleIds(db: Db, tenantId: string, userId: string, roleIds: string[]) {
  if (roleIds.length) await db('user_roles').where({ tenant_id: tenantId, user_id: userId }).whereIn('role_id', roleIds).delete();
}
