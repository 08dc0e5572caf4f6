import { findTenantRowsPage } from '../../db/keyset.js';
import type { Db } from '../../db/knex.js';
import type { Group } from './groups.types.js';

async function withRolesAndCounts(db: Db, tenantId: string, rows: any[]): Promise<Group[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const roles = await db('group_roles as gr')
    .join('roles as r', function () {
      this.on('r.tenant_id', 'gr.tenant_id').andOn('r.id', 'gr.role_id');
    })
    .where({ 'gr.tenant_id': tenantId }).whereIn('gr.group_id', ids)
    .orderBy('r.name').select('gr.group_id', 'r.name');
  const counts = await db('group_members').where({ tenant_id: tenantId }).whereIn('group_id', ids).groupBy('group_id').select('group_id').count({ n: '*' });
  return rows.map((r) => ({
    id: r.id, name: r.name, description: r.description ?? null,
    roles: roles.filter((x: any) => x.group_id === r.id).map((x: any) => x.name),
    memberCount: Number(counts.find((c: any) => c.group_id === r.id)?.n ?? 0),
    createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at),
  }));
}

export async function findGroupById(db: Db, tenantId: string, id: string) {
  const row = await db('groups').where({ tenant_id: tenantId, id }).first();
  return row ? (await withRolesAndCounts(db, tenantId, [row]))[0] : undefined;
}

/** One page of groups by name (keyset). */
export async function findGroupsPage(db: Db, tenantId: string, options: { afterName?: string; limit: number }) {
  const rows = await findTenantRowsPage(db, 'groups', tenantId, 'name', { after: options.afterName, limit: options.limit });
  return withRolesAndCounts(db, tenantId, rows);
}

export async function insertGroup(db: Db, tenantId: string, group: { id: string; name: string; description: string | null }) {
  await db('groups').insert({ tenant_id: tenantId, ...group });
}

export async function updateGroup(db: Db, tenantId: string, id: string, changes: { name?: string; description?: string | null }) {
  const rows = await db('groups').where({ tenant_id: tenantId, id }).update({ ...changes, updated_at: db.fn.now() }).returning('id');
  return rows.length > 0;
}

export async function deleteGroup(db: Db, tenantId: string, id: string) {
  const rows = await db('groups').where({ tenant_id: tenantId, id }).delete().returning('id');
  return rows.length > 0;
}

export async function findGroupMemberIds(db: Db, tenantId: string, groupId: string): Promise<string[]> {
  return db('group_members').where({ tenant_id: tenantId, group_id: groupId }).orderBy('user_id').pluck('user_id');
}

/** Which of these ids are users of the tenant. */
export async function findExistingUserIds(db: Db, tenantId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  return db('users').where({ tenant_id: tenantId }).whereIn('id', ids).pluck('id');
}

export async function replaceGroupMembers(db: Db, tenantId: string, groupId: string, userIds: string[]) {
  await db('group_members').where({ tenant_id: tenantId, group_id: groupId }).delete();
  if (userIds.length) await db('group_members').insert(userIds.map((user_id) => ({ tenant_id: tenantId, group_id: groupId, user_id })));
}

/** The groups each user is a member of, by name. */
export async function findGroupsOfUsers(db: Db, tenantId: string, userIds: string[]): Promise<Map<string, { id: string; name: string }[]>> {
  const byUser = new Map<string, { id: string; name: string }[]>();
  if (userIds.length === 0) return byUser;
  const rows = await db('groups as g')
    .join('group_members as gm', function () {
      this.on('gm.tenant_id', 'g.tenant_id').andOn('gm.group_id', 'g.id');
    })
    .where({ 'g.tenant_id': tenantId })
    .whereIn('gm.user_id', userIds)
    .orderBy('g.name')
    .select('gm.user_id', 'g.id', 'g.name');
  for (const row of rows as { user_id: string; id: string; name: string }[]) byUser.set(row.user_id, [...(byUser.get(row.user_id) ?? []), { id: row.id, name: row.name }]);
  return byUser;
}
