import type Router from '@koa/router';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { findGroupById, findGroupMemberIds, findGroupsPage } from '../../domain/groups/groups.queries.js';
import { changeGroup, createGroup, removeGroup, setGroupMembers, setGroupRoles } from '../../domain/groups/groups.service.js';
import { GroupAnswer, MemberIdsAnswer, presentGroup, RoleNamesAnswer } from '../../domain/present.js';
import { assertMayGrant, requireAdmin } from '../access.js';
import { operations } from '../operations.js';
import { decodeCursor, ListQuery, page } from '../pagination.js';
import { uuidParam } from '../params.js';
import { Problem } from '../problem.js';
import { CreateGroup, GroupMembers, GroupRoles, PatchGroup } from './groups.schema.js';

const notFound = () => new Problem(404, 'group_not_found', 'There is no group with this id in this tenant.');

/** The OpenAPI operations of the routes below (admin/operations.ts). */
export const groupOperations = operations('Groups', [
  {
    method: 'post', path: '/tenants/{slug}/groups', operationId: 'createGroup', summary: 'Create a group', body: CreateGroup, status: 201, response: GroupAnswer, errors: [409],
    requestExample: { name: 'Engineering', description: 'Everyone who ships code' },
  },
  { method: 'get', path: '/tenants/{slug}/groups', operationId: 'listGroups', summary: 'List groups by name', list: true, response: GroupAnswer },
  { method: 'get', path: '/tenants/{slug}/groups/{id}', operationId: 'getGroup', summary: 'Read a group', response: GroupAnswer },
  { method: 'patch', path: '/tenants/{slug}/groups/{id}', operationId: 'updateGroup', summary: 'Change a group', body: PatchGroup, response: GroupAnswer, errors: [409] },
  { method: 'delete', path: '/tenants/{slug}/groups/{id}', operationId: 'deleteGroup', summary: 'Delete a group', status: 204 },
  { method: 'get', path: '/tenants/{slug}/groups/{id}/members', operationId: 'listGroupMembers', summary: 'The user ids of a group\'s members', response: MemberIdsAnswer },
  { method: 'put', path: '/tenants/{slug}/groups/{id}/members', operationId: 'replaceGroupMembers', summary: 'Replace a group\'s members', body: GroupMembers, response: MemberIdsAnswer },
  { method: 'put', path: '/tenants/{slug}/groups/{id}/roles', operationId: 'replaceGroupRoles', summary: 'Replace a group\'s roles (members hold them)', body: GroupRoles, response: RoleNamesAnswer },
]);

/** Groups (teams): a member holds the group's roles. */
export function groupRoutes(router: Router, deps: Deps) {
  const admin = requireAdmin(deps);
  const found = <T>(value: T | undefined) => {
    if (value === undefined) throw notFound();
    return value;
  };

  router.post('/tenants/:slug/groups', admin, async (ctx) => {
    const b = CreateGroup.parse(ctx.request.body);
    ctx.status = 201;
    ctx.body = presentGroup(await createGroup(deps, ctx.state.tenant, b, ctx.state.actor));
  });

  router.get('/tenants/:slug/groups', admin, async (ctx) => {
    const { limit, cursor } = ListQuery.parse(ctx.query);
    const rows = await findGroupsPage(deps.db, ctx.state.tenant.id, { afterName: decodeCursor(cursor, z.string()), limit: limit + 1 });
    ctx.body = page(rows, limit, (g) => g.name, presentGroup);
  });

  router.get('/tenants/:slug/groups/:id', admin, async (ctx) => {
    ctx.body = presentGroup(found(await findGroupById(deps.db, ctx.state.tenant.id, uuidParam(ctx, 'id', notFound))));
  });

  router.patch('/tenants/:slug/groups/:id', admin, async (ctx) => {
    const b = PatchGroup.parse(ctx.request.body);
    ctx.body = presentGroup(found(await changeGroup(deps, ctx.state.tenant, uuidParam(ctx, 'id', notFound), b, ctx.state.actor)));
  });

  router.delete('/tenants/:slug/groups/:id', admin, async (ctx) => {
    if (!(await removeGroup(deps, ctx.state.tenant, uuidParam(ctx, 'id', notFound), ctx.state.actor))) throw notFound();
    ctx.status = 204;
  });

  router.get('/tenants/:slug/groups/:id/members', admin, async (ctx) => {
    const group = found(await findGroupById(deps.db, ctx.state.tenant.id, uuidParam(ctx, 'id', notFound)));
    ctx.body = { user_ids: await findGroupMemberIds(deps.db, ctx.state.tenant.id, group.id) };
  });

  router.put('/tenants/:slug/groups/:id/members', admin, async (ctx) => {
    const { user_ids } = GroupMembers.parse(ctx.request.body);
    // A member gains the group's roles: adding one to a system-admin group is granting system-admin.
    const group = found(await findGroupById(deps.db, ctx.state.tenant.id, uuidParam(ctx, 'id', notFound)));
    assertMayGrant(ctx.state.principal, ctx.state.tenant, group.roles);
    ctx.body = { user_ids: found(await setGroupMembers(deps, ctx.state.tenant, group.id, user_ids.map((u) => u.toLowerCase()), ctx.state.actor)) };
  });

  router.put('/tenants/:slug/groups/:id/roles', admin, async (ctx) => {
    const { roles } = GroupRoles.parse(ctx.request.body);
    assertMayGrant(ctx.state.principal, ctx.state.tenant, roles);
    ctx.body = { roles: found(await setGroupRoles(deps, ctx.state.tenant, uuidParam(ctx, 'id', notFound), roles, ctx.state.actor)) };
  });
}
