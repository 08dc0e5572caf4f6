import type { Db } from '../../db/knex.js';
import { findGroupsOfUsers } from '../groups/groups.queries.js';
import type { UserAccess } from '../present.js';
import { findDirectRoleNamesOfUsers } from '../rbac/rbac.queries.js';

/** Each user's directly assigned roles and groups (two queries for a whole page). */
export async function findUserAccess(db: Db, tenantId: string, userIds: string[]): Promise<Map<string, UserAccess>> {
  const [roles, groups] = await Promise.all([findDirectRoleNamesOfUsers(db, tenantId, userIds), findGroupsOfUsers(db, tenantId, userIds)]);
  return new Map(userIds.map((id) => [id, { roles: roles.get(id) ?? [], groups: groups.get(id) ?? [] }]));
}

export async function findAccessOfUser(db: Db, tenantId: string, userId: string): Promise<UserAccess> {
  return (await findUserAccess(db, tenantId, [userId])).get(userId)!;
}
