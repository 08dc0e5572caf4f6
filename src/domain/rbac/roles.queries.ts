import { findTenantRowsPage } from '../../db/keyset.js';
import type { Db } from '../../db/knex.js';
import type { RolePermission, RoleRecord } from './rbac.types.js';

async function withPermissions(db: Db, tenantId: string, rows: any[]): Promise<RoleRecord[]> {
  if (rows.length === 0) return [];
  const perms = await db('role_permissions as rp')
    .join('resources as r', function () {
      this.on('r.tenant_id', 'rp.tenant_id').andOn('r.id', 'rp.resource_id');
    })
    .where({ 'rp.tenant_id': tenantId })
    .whereIn('rp.role_id', rows.map((r) => r.id))
    .orderBy([{ column: 'r.identifier' }, { column: 'rp.permission' }])
    .select('rp.role_id', 'r.identifier', 'rp.permission');
  return rows.map((r) => ({
    id: r.id, name: r.name, description: r.description ?? null, builtin: r.builtin, createdAt: new Date(r.created_at),
    permissions: perms.filter((p: any) => p.role_id === r.id).map((p: any) => ({ resource: p.identifier, permission: p.permission })),
  }));
}

export async function findRoleById(db: Db, tenantId: string, id: string) {
  const row = await db('roles').where({ tenant_id: tenantId, id }).first();
  return row ? (await withPermissions(db, tenantId, [row]))[0] : undefined;
}

/** One page of roles by name (keyset). */
export async function findRolesPage(db: Db, tenantId: string, options: { afterName?: string; limit: number }) {
  const rows = await findTenantRowsPage(db, 'roles', tenantId, 'name', { after: options.afterName, limit: options.limit });
  return withPermissions(db, tenantId, rows);
}

export async function updateRole(db: Db, tenantId: string, id: string, changes: { name?: string; description?: string | null }) {
  if (changes.name === undefined && changes.description === undefined) return;
  await db('roles').where({ tenant_id: tenantId, id }).update(changes);
}

/** Permissions named by (resource identifier, permission) that do not exist in the tenant. */
export async function findMissingPermissions(db: Db, tenantId: string, wanted: RolePermission[]) {
  if (wanted.length === 0) return { found: [] as { resourceId: string; permission: string }[], missing: [] as RolePermission[] };
  const rows = await db('permissions as p')
    .join('resources as r', function () {
      this.on('r.tenant_id', 'p.tenant_id').andOn('r.id', 'p.resource_id');
    })
    .where({ 'p.tenant_id': tenantId })
    .whereIn('r.identifier', [...new Set(wanted.map((w) => w.resource))])
    .select('r.id as resource_id', 'r.identifier', 'p.name');
  const key = (resource: string, permission: string) => `${resource}\u0000${permission}`;
  const known = new Map<string, string>(rows.map((r: any) => [key(r.identifier, r.name), r.resource_id]));
  const found = wanted.filter((w) => known.has(key(w.resource, w.permission))).map((w) => ({ resourceId: known.get(key(w.resource, w.permission))!, permission: w.permission }));
  return { found, missing: wanted.filter((w) => !known.has(key(w.resource, w.permission))) };
}

export async function replaceRolePermissions(db: Db, tenantId: string, roleId: string, permissions: { resourceId: string; permission: string }[]) {
  await db('role_permissions').where({ tenant_id: tenantId, role_id: roleId }).delete();
  if (permissions.length === 0) return;
  await db('role_permissions')
    .insert(permissions.map((p) => ({ tenant_id: tenantId, role_id: roleId, resource_id: p.resourceId, permission: p.permission })))
    .onConflict(['tenant_id', 'role_id', 'resource_id', 'permission'])
    .ignore();
}

export async function deleteRole(db: Db, tenantId: string, id: string) {
  const rows = await db('roles').where({ tenant_id: tenantId, id }).delete().returning('id');
  return rows.length > 0;
}
