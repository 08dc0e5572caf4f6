import { randomUUID } from 'node:crypto';
import { recordAudit, type AuditSubject } from '../../audit/record.js';
import { isUniqueViolation, lockTenantRow, type Db, type Trx } from '../../db/knex.js';
import type { Actor, Deps } from '../../deps.js';
import { announceChange } from '../changes.js';
import type { Tenant } from '../tenants/tenants.types.js';
import { findRolesByNames, insertRole } from './rbac.queries.js';
import type { Permission, RolePermission } from './rbac.types.js';
import { deleteResource, findResourceById, insertResource, replacePermissions, updateResourceName } from './resources.queries.js';
import { deleteRole, findMissingPermissions, findRoleById, replaceRolePermissions, updateRole } from './roles.queries.js';

export class UnknownRoleError extends Error {
  constructor(readonly roles: string[]) {
    super(`unknown role(s): ${roles.join(', ')}`);
  }
}
export class ResourceExistsError extends Error {}
export class RoleExistsError extends Error {}
export class BuiltinRoleError extends Error {}
export class UnknownPermissionError extends Error {
  constructor(readonly missing: RolePermission[]) {
    super(`unknown permission(s): ${missing.map((m) => `${m.resource} ${m.permission}`).join(', ')}`);
  }
}

const audit = (trx: Trx, tenant: Tenant, actor: Actor, type: string, subject: AuditSubject, details?: Record<string, unknown>) =>
  recordAudit(trx, { tenantId: tenant.id, type, actor: actor.id, subject, ip: actor.ip, userAgent: actor.userAgent, details });

/** Runs a change to what a tenant grants (roles, resources, groups): announced, unique clashes named. */
export async function rbacChange<T>(deps: Pick<Deps, 'db'>, tenant: Tenant, clash: () => Error, work: (trx: Trx) => Promise<T>) {
  try {
    return await deps.db.transaction(async (trx) => {
      const result = await work(trx);
      await announceChange(trx, tenant.id, 'rbac');
      return result;
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw clash();
    throw err;
  }
}

const resourceClash = () => new ResourceExistsError('a resource with this identifier already exists');
const roleClash = () => new RoleExistsError('a role with this name already exists');

export async function createResource(deps: Pick<Deps, 'db'>, tenant: Tenant, input: { identifier: string; name: string; permissions: Permission[] }, actor: Actor) {
  return rbacChange(deps, tenant, resourceClash, async (trx) => {
    const id = randomUUID();
    await insertResource(trx, tenant.id, { id, identifier: input.identifier, name: input.name });
    await replacePermissions(trx, tenant.id, id, input.permissions);
    await audit(trx, tenant, actor, 'resource.created', `resource:${input.identifier}`, { permissions: input.permissions.map((p) => p.name) });
    return (await findResourceById(trx, tenant.id, id))!;
  });
}

/** Renames, or replaces the permission list (a dropped permission leaves every role that had it). */
export async function changeResource(deps: Pick<Deps, 'db'>, tenant: Tenant, id: string, changes: { name?: string; permissions?: Permission[] }, actor: Actor) {
  return rbacChange(deps, tenant, resourceClash, async (trx) => {
    if (!(await lockTenantRow(trx, 'resources', tenant.id, { id }))) return undefined;
    const before = (await findResourceById(trx, tenant.id, id))!;
    if (changes.name !== undefined) await updateResourceName(trx, tenant.id, id, changes.name);
    if (changes.permissions) await replacePermissions(trx, tenant.id, id, changes.permissions);
    await audit(trx, tenant, actor, 'resource.updated', `resource:${before.identifier}`, { fields: Object.keys(changes), permissions: changes.permissions?.map((p) => p.name) });
    return (await findResourceById(trx, tenant.id, id))!;
  });
}

export async function removeResource(deps: Pick<Deps, 'db'>, tenant: Tenant, id: string, actor: Actor) {
  return rbacChange(deps, tenant, resourceClash, async (trx) => {
    const before = await findResourceById(trx, tenant.id, id);
    if (!before || !(await deleteResource(trx, tenant.id, id))) return false;
    await audit(trx, tenant, actor, 'resource.deleted', `resource:${before.identifier}`);
    return true;
  });
}

async function resolvePermissions(trx: Trx, tenant: Tenant, wanted: RolePermission[]) {
  const { found, missing } = await findMissingPermissions(trx, tenant.id, wanted);
  if (missing.length) throw new UnknownPermissionError(missing);
  return found;
}

export async function createRole(deps: Pick<Deps, 'db'>, tenant: Tenant, input: { name: string; description?: string | null; permissions: RolePermission[] }, actor: Actor) {
  return rbacChange(deps, tenant, roleClash, async (trx) => {
    const found = await resolvePermissions(trx, tenant, input.permissions);
    const role = await insertRole(trx, tenant.id, { name: input.name, description: input.description ?? null });
    await replaceRolePermissions(trx, tenant.id, role.id, found);
    await audit(trx, tenant, actor, 'role.created', `role:${input.name}`, { permissions: input.permissions });
    return (await findRoleById(trx, tenant.id, role.id))!;
  });
}

/** Built-in roles keep their name: the admin API and the system tenant rely on it. */
export async function changeRole(deps: Pick<Deps, 'db'>, tenant: Tenant, id: string, changes: { name?: string; description?: string | null; permissions?: RolePermission[] }, actor: Actor) {
  return rbacChange(deps, tenant, roleClash, async (trx) => {
    if (!(await lockTenantRow(trx, 'roles', tenant.id, { id }))) return undefined;
    const before = (await findRoleById(trx, tenant.id, id))!;
    if (before.builtin && changes.name !== undefined && changes.name !== before.name) throw new BuiltinRoleError('a built-in role cannot be renamed');
    await updateRole(trx, tenant.id, id, { name: changes.name, description: changes.description });
    if (changes.permissions) await replaceRolePermissions(trx, tenant.id, id, await resolvePermissions(trx, tenant, changes.permissions));
    await audit(trx, tenant, actor, 'role.updated', `role:${before.name}`, { fields: Object.keys(changes), ...(changes.name ? { name: changes.name } : {}), permissions: changes.permissions });
    return (await findRoleById(trx, tenant.id, id))!;
  });
}

export async function removeRole(deps: Pick<Deps, 'db'>, tenant: Tenant, id: string, actor: Actor) {
  return rbacChange(deps, tenant, roleClash, async (trx) => {
    const before = await findRoleById(trx, tenant.id, id);
    if (!before) return false;
    if (before.builtin) throw new BuiltinRoleError('a built-in role cannot be deleted');
    await deleteRole(trx, tenant.id, id);
    await audit(trx, tenant, actor, 'role.deleted', `role:${before.name}`);
    return true;
  });
}

/** Role names → ids, refusing the whole change when one does not exist in the tenant. */
export async function resolveRoleNames(trx: Trx | Db, tenantId: string, names: string[]) {
  const unique = [...new Set(names)];
  const roles = await findRolesByNames(trx, tenantId, unique);
  const missing = unique.filter((n) => !roles.some((r) => r.name === n));
  if (missing.length) throw new UnknownRoleError(missing);
  return { names: unique.sort(), ids: roles.map((r) => r.id) };
}
