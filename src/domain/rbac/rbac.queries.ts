import { randomUUID } from 'node:crypto';
import type { Db } from '../../db/knex.js';

export interface Role {
  id: string;
  name: string;
  description: string | null;
  builtin: boolean;
}

const toRole = (r: any): Role => ({ id: r.id, name: r.name, description: r.description, builtin: r.builtin });

export async function findRoleByName(db: Db, tenantId: string, name: string) {
  const row = await db('roles').where({ tenant_id: tenantId, name }).first();
  return row ? toRole(row) : undefined;
}

export async function insertRole(db: Db, tenantId: string, role: { name: string; description?: string | null; builtin?: boolean }) {
  const [row] = await db('roles')
    .insert({ tenant_id: tenantId, id: randomUUID(), name: role.name, description: role.description ?? null, builtin: role.builtin ?? false })
    .returning('*');
  return toRole(row);
}

export async function findRolesByNames(db: Db, tenantId: string, names: string[]) {
  if (names.length === 0) return [];
  // Shared locks: a role being assigned cannot be deleted under the assignment.
  return (await db('roles').where({ tenant_id: tenantId }).whereIn('name', names).forShare()).map(toRole);
}

/** Replaces a subject's role set; `table` is user_roles, client_roles or group_roles. */
export async function replaceRoleAssignments(db: Db, table: 'user_roles' | 'client_roles' | 'group_roles', tenantId: string, subject: Record<string, string>, roleIds: string[]) {
  await db(table).where({ tenant_id: tenantId, ...subject }).delete();
  if (roleIds.length) await db(table).insert(roleIds.map((role_id) => ({ tenant_id: tenantId, ...subject, role_id })));
}

/** A user's roles: their own plus those of their groups. */
export async function findUserRoleNames(db: Db, tenantId: string, userId: string): Promise<string[]> {
  const rows = await db.raw(
    `select r.name from roles r
       where r.tenant_id = ? and r.id in (
         select role_id from user_roles where tenant_id = ? and user_id = ?
         union
         select gr.role_id from group_roles gr
           join group_members gm on gm.tenant_id = gr.tenant_id and gm.group_id = gr.group_id
          where gr.tenant_id = ? and gm.user_id = ?)
     order by r.name`,
    [tenantId, tenantId, userId, tenantId, userId],
  );
  return rows.rows.map((r: any) => r.name);
}

export async function findClientRoleNames(db: Db, tenantId: string, clientId: string): Promise<string[]> {
  return (await findRoleNamesOfClients(db, tenantId, [clientId])).get(clientId) ?? [];
}

/** Role names of several clients in one query (a page of clients), by client_id. */
export async function findRoleNamesOfClients(db: Db, tenantId: string, clientIds: string[]): Promise<Map<string, string[]>> {
  const byClient = new Map<string, string[]>();
  if (clientIds.length === 0) return byClient;
  const rows = await db('roles as r')
    .join('client_roles as cr', function () {
      this.on('cr.tenant_id', 'r.tenant_id').andOn('cr.role_id', 'r.id');
    })
    .where({ 'r.tenant_id': tenantId })
    .whereIn('cr.client_id', clientIds)
    .orderBy('r.name')
    .select('cr.client_id', 'r.name');
  for (const row of rows as { client_id: string; name: string }[]) byClient.set(row.client_id, [...(byClient.get(row.client_id) ?? []), row.name]);
  return byClient;
}

export interface Resource {
  id: string;
  identifier: string;
  name: string;
  permissions: string[];
}

export async function findResourceByIdentifier(db: Db, tenantId: string, identifier: string): Promise<Resource | undefined> {
  const row = await db('resources').where({ tenant_id: tenantId, identifier }).first();
  if (!row) return undefined;
  const perms = await db('permissions').where({ tenant_id: tenantId, resource_id: row.id }).orderBy('name').pluck('name');
  return { id: row.id, identifier: row.identifier, name: row.name, permissions: perms };
}

/** A resource's permissions with the descriptions its admin wrote (the consent page shows them). */
export async function findPermissionsOfResource(db: Db, tenantId: string, resourceId: string): Promise<{ name: string; description: string | null }[]> {
  const rows = await db('permissions').where({ tenant_id: tenantId, resource_id: resourceId }).orderBy('name').select('name', 'description');
  return rows.map((r: { name: string; description: string | null }) => ({ name: r.name, description: r.description }));
}

/**
 * One round trip for the token endpoint: whether the resource exists, and the permissions on it
 * that the roles of a client (or of a user, with their groups) grant.
 */
export async function findGrantedOnResource(db: Db, tenantId: string, identifier: string, subject: { clientId: string } | { userId: string }) {
  const roleIds = 'clientId' in subject
    ? { sql: `select role_id from client_roles where tenant_id = ? and client_id = ?`, bindings: [tenantId, subject.clientId] }
    : {
        sql: `select role_id from user_roles where tenant_id = ? and user_id = ?
              union select gr.role_id from group_roles gr join group_members gm on gm.tenant_id = gr.tenant_id and gm.group_id = gr.group_id
               where gr.tenant_id = ? and gm.user_id = ?`,
        bindings: [tenantId, subject.userId, tenantId, subject.userId],
      };
  const result = await db.raw(
    `select r.id, (select coalesce(array_agg(distinct rp.permission order by rp.permission), '{}') from role_permissions rp
                    where rp.tenant_id = r.tenant_id and rp.resource_id = r.id and rp.role_id in (${roleIds.sql})) as granted
       from resources r where r.tenant_id = ? and r.identifier = ?`,
    [...roleIds.bindings, tenantId, identifier],
  );
  const row = result.rows[0];
  return row ? { exists: true as const, granted: row.granted as string[] } : { exists: false as const, granted: [] };
}

/** The roles assigned to each user directly (not through groups), by name. */
export async function findDirectRoleNamesOfUsers(db: Db, tenantId: string, userIds: string[]): Promise<Map<string, string[]>> {
  const byUser = new Map<string, string[]>();
  if (userIds.length === 0) return byUser;
  const rows = await db('roles as r')
    .join('user_roles as ur', function () {
      this.on('ur.tenant_id', 'r.tenant_id').andOn('ur.role_id', 'r.id');
    })
    .where({ 'r.tenant_id': tenantId })
    .whereIn('ur.user_id', userIds)
    .orderBy('r.name')
    .select('ur.user_id', 'r.name');
  for (const row of rows as { user_id: string; name: string }[]) byUser.set(row.user_id, [...(byUser.get(row.user_id) ?? []), row.name]);
  return byUser;
}
