import { findTenantRowsPage } from '../../db/keyset.js';
import type { Db } from '../../db/knex.js';
import type { ApiResource, Permission } from './rbac.types.js';

async function withPermissions(db: Db, tenantId: string, rows: any[]): Promise<ApiResource[]> {
  if (rows.length === 0) return [];
  const perms = await db('permissions').where({ tenant_id: tenantId }).whereIn('resource_id', rows.map((r) => r.id)).orderBy('name');
  return rows.map((r) => ({
    id: r.id, identifier: r.identifier, name: r.name, createdAt: new Date(r.created_at),
    permissions: perms.filter((p: any) => p.resource_id === r.id).map((p: any) => ({ name: p.name, description: p.description ?? null })),
  }));
}

export async function findResourceById(db: Db, tenantId: string, id: string) {
  const row = await db('resources').where({ tenant_id: tenantId, id }).first();
  return row ? (await withPermissions(db, tenantId, [row]))[0] : undefined;
}

/** One page of resources by identifier (keyset). */
export async function findResourcesPage(db: Db, tenantId: string, options: { afterIdentifier?: string; limit: number }) {
  const rows = await findTenantRowsPage(db, 'resources', tenantId, 'identifier', { after: options.afterIdentifier, limit: options.limit });
  return withPermissions(db, tenantId, rows);
}

export async function insertResource(db: Db, tenantId: string, resource: { id: string; identifier: string; name: string }) {
  await db('resources').insert({ tenant_id: tenantId, ...resource });
}

export async function updateResourceName(db: Db, tenantId: string, id: string, name: string) {
  await db('resources').where({ tenant_id: tenantId, id }).update({ name });
}

/**
 * Makes a resource's permissions exactly `next`: new ones are added, descriptions updated, and
 * removed ones deleted (roles lose them too: role_permissions cascades).
 */
export async function replacePermissions(db: Db, tenantId: string, resourceId: string, next: Permission[]) {
  const keep = next.map((p) => p.name);
  await db('permissions').where({ tenant_id: tenantId, resource_id: resourceId })
    .modify((q) => { if (keep.length) q.whereNotIn('name', keep); })
    .delete();
  if (next.length === 0) return;
  await db('permissions')
    .insert(next.map((p) => ({ tenant_id: tenantId, resource_id: resourceId, name: p.name, description: p.description ?? null })))
    .onConflict(['tenant_id', 'resource_id', 'name'])
    .merge(['description']);
}

export async function deleteResource(db: Db, tenantId: string, id: string) {
  const rows = await db('resources').where({ tenant_id: tenantId, id }).delete().returning('id');
  return rows.length > 0;
}
