import type { Db } from '../../db/knex.js';
import { DEFAULT_TENANT_SETTINGS, type Tenant, type TenantSettings } from './tenants.types.js';

export function toTenant(row: any): Tenant {
  const stored = (typeof row.settings === 'string' ? JSON.parse(row.settings) : row.settings) as Partial<TenantSettings>;
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    settings: mergeSettings(DEFAULT_TENANT_SETTINGS, stored),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/**
 * Nested objects merge at every depth (`rate_limits.login_per_ip.limit` alone keeps its
 * window_seconds), so a PATCH may name any subset and a stored row written before a setting
 * existed reads with that setting's defaults. Anything else replaces.
 */
export function mergeSettings(base: TenantSettings, patch: Partial<TenantSettings> | Record<string, any>): TenantSettings {
  return mergeObjects(base as unknown as Record<string, unknown>, patch) as unknown as TenantSettings;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function mergeObjects(base: Record<string, unknown>, patch: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch ?? {})) out[k] = isPlainObject(v) && isPlainObject(base[k]) ? mergeObjects(base[k], v) : v;
  return out;
}

export async function findTenantBySlug(db: Db, slug: string) {
  const row = await db('tenants').where({ slug }).first();
  return row ? toTenant(row) : undefined;
}

export async function findTenantById(db: Db, id: string) {
  const row = await db('tenants').where({ id }).first();
  return row ? toTenant(row) : undefined;
}

export async function insertTenant(db: Db, tenant: { id: string; slug: string; name: string; settings: TenantSettings }) {
  const [row] = await db('tenants')
    .insert({ ...tenant, settings: JSON.stringify(tenant.settings) })
    .returning('*');
  return toTenant(row);
}

export async function updateTenant(db: Db, id: string, changes: { name?: string; settings?: TenantSettings }) {
  const [row] = await db('tenants')
    .where({ id })
    .update({
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.settings ? { settings: JSON.stringify(changes.settings) } : {}),
      updated_at: db.fn.now(),
    })
    .returning('*');
  return row ? toTenant(row) : undefined;
}

export async function deleteTenant(db: Db, id: string) {
  // It cascades over the tenant's rows (users, clients, tokens and sessions included), which may
  // take longer than a serving node's statement deadline allows (db/knex.ts): none for this one.
  return db('tenants').where({ id }).delete().options({ deadline: false });
}

/** One page of tenants by slug (keyset), for the admin API's list. */
export async function findTenantsPage(db: Db, options: { afterSlug?: string; limit: number }): Promise<Tenant[]> {
  const rows = await db('tenants')
    .modify((q) => { if (options.afterSlug !== undefined) q.where('slug', '>', options.afterSlug); })
    .orderBy('slug')
    .limit(options.limit);
  return rows.map(toTenant);
}

/**
 * Locks the tenant's row until the transaction ends, for changes of the tenant that must run one
 * after another (signing-key rotations; connections' email domains, which live in two tables).
 * FOR NO KEY UPDATE, as an update of the row would take: rows inserted meanwhile that refer to
 * the tenant (sessions, tokens, users) are not held up. False when the tenant is gone.
 */
export async function lockTenant(trx: Db, tenantId: string) {
  return Boolean(await trx('tenants').where({ id: tenantId }).forNoKeyUpdate().first(trx.raw('1 as locked')));
}

/** Providers are rebuilt when their tenant's row changes (tenancy/registry.ts), on every node. */
export async function touchTenant(db: Db, tenantId: string) {
  await db('tenants').where({ id: tenantId }).update({ updated_at: db.fn.now() });
}
