import { randomUUID } from 'node:crypto';
import { recordAudit, type AuditSubject } from '../../audit/record.js';
import { lockTenantRow, type Trx } from '../../db/knex.js';
import type { Actor, Deps } from '../../deps.js';
import { replaceRoleAssignments } from '../rbac/rbac.queries.js';
import { rbacChange, resolveRoleNames } from '../rbac/rbac.service.js';
import type { Tenant } from '../tenants/tenants.types.js';
import { deleteGroup, findExistingUserIds, findGroupById, insertGroup, replaceGroupMembers, updateGroup } from './groups.queries.js';

export class GroupExistsError extends Error {}
export class UnknownUserError extends Error {
  constructor(readonly ids: string[]) {
    super(`unknown user id(s): ${ids.join(', ')}`);
  }
}

const audit = (trx: Trx, tenant: Tenant, actor: Actor, type: string, subject: AuditSubject, details?: Record<string, unknown>) =>
  recordAudit(trx, { tenantId: tenant.id, type, actor: actor.id, subject, ip: actor.ip, userAgent: actor.userAgent, details });

/** Group changes alter what members are granted: each is an RBAC change. */
const groupChange = <T>(deps: Pick<Deps, 'db'>, tenant: Tenant, work: (trx: Trx) => Promise<T>) =>
  rbacChange(deps, tenant, () => new GroupExistsError('a group with this name already exists'), work);

export function createGroup(deps: Pick<Deps, 'db'>, tenant: Tenant, input: { name: string; description?: string | null }, actor: Actor) {
  return groupChange(deps, tenant, async (trx) => {
    const id = randomUUID();
    await insertGroup(trx, tenant.id, { id, name: input.name, description: input.description ?? null });
    await audit(trx, tenant, actor, 'group.created', `group:${id}`, { name: input.name });
    return (await findGroupById(trx, tenant.id, id))!;
  });
}

export function changeGroup(deps: Pick<Deps, 'db'>, tenant: Tenant, id: string, changes: { name?: string; description?: string | null }, actor: Actor) {
  return groupChange(deps, tenant, async (trx) => {
    if (!(await updateGroup(trx, tenant.id, id, changes))) return undefined;
    await audit(trx, tenant, actor, 'group.updated', `group:${id}`, { fields: Object.keys(changes) });
    return (await findGroupById(trx, tenant.id, id))!;
  });
}

export function removeGroup(deps: Pick<Deps, 'db'>, tenant: Tenant, id: string, actor: Actor) {
  return groupChange(deps, tenant, async (trx) => {
    if (!(await deleteGroup(trx, tenant.id, id))) return false;
    await audit(trx, tenant, actor, 'group.deleted', `group:${id}`);
    return true;
  });
}

/** Replaces the member list; every id must name a user of this tenant. */
export function setGroupMembers(deps: Pick<Deps, 'db'>, tenant: Tenant, id: string, userIds: string[], actor: Actor) {
  return groupChange(deps, tenant, async (trx) => {
    if (!(await lockTenantRow(trx, 'groups', tenant.id, { id }))) return undefined;
    const unique = [...new Set(userIds)];
    const existing = new Set(await findExistingUserIds(trx, tenant.id, unique));
    const unknown = unique.filter((u) => !existing.has(u));
    if (unknown.length) throw new UnknownUserError(unknown);
    await replaceGroupMembers(trx, tenant.id, id, unique);
    await audit(trx, tenant, actor, 'group.members_changed', `group:${id}`, { user_ids: unique });
    return unique.sort();
  });
}

export function setGroupRoles(deps: Pick<Deps, 'db'>, tenant: Tenant, id: string, names: string[], actor: Actor) {
  return groupChange(deps, tenant, async (trx) => {
    if (!(await lockTenantRow(trx, 'groups', tenant.id, { id }))) return undefined;
    const roles = await resolveRoleNames(trx, tenant.id, names);
    await replaceRoleAssignments(trx, 'group_roles', tenant.id, { group_id: id }, roles.ids);
    await audit(trx, tenant, actor, 'role.assigned', `group:${id}`, { roles: roles.names });
    return roles.names;
  });
}
