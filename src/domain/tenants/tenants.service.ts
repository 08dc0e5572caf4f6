import { randomUUID } from 'node:crypto';
import { recordAudit } from '../../audit/record.js';
import { isUniqueViolation } from '../../db/knex.js';
import type { Actor, Deps } from '../../deps.js';
import { announceChange } from '../changes.js';
import { holdKeysForIssuedTokens } from '../keys/keys.queries.js';
import { createSigningKey, keyOverlapSeconds } from '../keys/keys.service.js';
import type { SigningAlg } from '../keys/keys.types.js';
import { insertRole } from '../rbac/rbac.queries.js';
import { deleteTenant, findTenantById, findTenantBySlug, insertTenant, lockTenant, mergeSettings, updateTenant } from './tenants.queries.js';
import { DEFAULT_TENANT_SETTINGS, SYSTEM_ADMIN_ROLE, SYSTEM_TENANT, TENANT_ADMIN_ROLE, TENANT_SLUG, type Tenant, type TenantSettings } from './tenants.types.js';

export class TenantExistsError extends Error {}
export class InvalidSlugError extends Error {}

export async function createTenant(deps: Pick<Deps, 'db' | 'secrets'>, input: { slug: string; name?: string; alg?: SigningAlg }, actor: Actor): Promise<Tenant> {
  if (!TENANT_SLUG.test(input.slug)) throw new InvalidSlugError('slug must match ^[a-z0-9][a-z0-9-]{1,62}$');
  try {
    return await deps.db.transaction(async (trx) => {
      const tenant = await insertTenant(trx, { id: randomUUID(), slug: input.slug, name: input.name ?? input.slug, settings: DEFAULT_TENANT_SETTINGS });
      await createSigningKey(deps, trx, tenant.id, input.alg ?? 'RS256');
      await insertRole(trx, tenant.id, { name: TENANT_ADMIN_ROLE, description: 'Administers this tenant', builtin: true });
      if (tenant.slug === SYSTEM_TENANT) {
        await insertRole(trx, tenant.id, { name: SYSTEM_ADMIN_ROLE, description: 'Administers every tenant', builtin: true });
      }
      await recordAudit(trx, { tenantId: tenant.id, type: 'tenant.created', actor: actor.id, subject: `tenant:${tenant.slug}`, ip: actor.ip, userAgent: actor.userAgent });
      return tenant;
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new TenantExistsError(`tenant ${input.slug} already exists`);
    throw err;
  }
}

/** The system tenant always exists; concurrent first starts race harmlessly. */
export async function ensureSystemTenant(deps: Pick<Deps, 'db' | 'secrets'>, actor: Actor) {
  const existing = await findTenantBySlug(deps.db, SYSTEM_TENANT);
  if (existing) return existing;
  try {
    return await createTenant(deps, { slug: SYSTEM_TENANT, name: 'System' }, actor);
  } catch (err) {
    if (err instanceof TenantExistsError) return (await findTenantBySlug(deps.db, SYSTEM_TENANT))!;
    throw err;
  }
}

export async function changeTenantSettings(deps: Pick<Deps, 'db'> & Partial<Pick<Deps, 'config'>>, tenant: Tenant, changes: { name?: string; settings?: Partial<TenantSettings> }, actor: Actor) {
  return deps.db.transaction(async (trx) => {
    // The stored settings, locked, not a node's cached copy: a change made meanwhile on another
    // node is merged with, not overwritten, and the lifetimes compared below are the ones in force.
    const stored = (await lockTenant(trx, tenant.id)) ? ((await findTenantById(trx, tenant.id)) ?? tenant) : tenant;
    const next = await updateTenant(trx, tenant.id, { name: changes.name, settings: changes.settings ? mergeSettings(stored.settings, changes.settings) : undefined });
    // Shorter token or session lifetimes: what the keys signed until now still lives by the old
    // ones, so no key leaves JWKS before it (DESIGN.md "Operations": a rotation no client notices).
    const before = keyOverlapSeconds(stored, deps.config);
    if (next && keyOverlapSeconds(next, deps.config) < before) await holdKeysForIssuedTokens(trx, tenant.id, before);
    await announceChange(trx, tenant.id, 'tenant');
    await recordAudit(trx, { tenantId: tenant.id, type: 'tenant.updated', actor: actor.id, subject: `tenant:${tenant.slug}`, ip: actor.ip, userAgent: actor.userAgent, details: { fields: Object.keys({ ...changes.settings, ...(changes.name ? { name: 1 } : {}) }) } });
    return next!;
  });
}

export class SystemTenantError extends Error {}

/**
 * Deletes a tenant and everything it owns (foreign keys cascade). Its own audit chain stays, and
 * the deletion is recorded in the system tenant's chain, which outlives every other tenant.
 */
export async function removeTenant(deps: Pick<Deps, 'db'>, tenant: Tenant, actor: Actor) {
  if (tenant.slug === SYSTEM_TENANT) throw new SystemTenantError('the system tenant cannot be deleted');
  await deps.db.transaction(async (trx) => {
    const system = await findTenantBySlug(trx, SYSTEM_TENANT);
    await deleteTenant(trx, tenant.id);
    await announceChange(trx, tenant.id, 'tenant');
    if (system) await recordAudit(trx, { tenantId: system.id, type: 'tenant.deleted', actor: actor.id, subject: `tenant:${tenant.slug}`, ip: actor.ip, userAgent: actor.userAgent, details: { tenant_id: tenant.id } });
  });
}
