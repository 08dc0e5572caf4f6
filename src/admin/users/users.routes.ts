import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { presentUser, RoleNamesAnswer, UserAnswer, type UserAccess } from '../../domain/present.js';
import { findAccessOfUser, findUserAccess } from '../../domain/users/user-access.queries.js';
import type { Deps } from '../../deps.js';
import { findUserById, findUsersPage } from '../../domain/users/users.queries.js';
import { changeUser, createUser, removeUser, setUserPassword, setUserRoles } from '../../domain/users/users.service.js';
import { sendVerificationMail } from '../../mail/verification.js';
import { backchannelLogout } from '../../tenancy/backchannel-logout.js';
import type { TenantRegistry } from '../../tenancy/registry.js';
import { assertMayGrant, requireAdmin } from '../access.js';
import { operations } from '../operations.js';
import { decodeCursor, ListQuery, page } from '../pagination.js';
import { uuidParam } from '../params.js';
import { Problem } from '../problem.js';
import { CreateUser, PatchUser, UserList, UserPassword, UserRoles } from './users.schema.js';

const userNotFound = () => new Problem(404, 'user_not_found', 'There is no user with this id in this tenant.');

/** The id of the addressed user; anything that is not a UUID cannot name one. */
const userId = (ctx: Context) => uuidParam(ctx, 'id', userNotFound);

/** The addressed user of this tenant, or 404. */
export async function loadUser(deps: Pick<Deps, 'db'>, ctx: Context) {
  const user = await findUserById(deps.db, ctx.state.tenant.id, userId(ctx));
  if (!user) throw userNotFound();
  return user;
}

const userExample = {
  id: '5d9f3a52-6c1b-4e8a-b0f4-2a7c9e1d8b33', email: 'ada@acme.example', email_verified: true, name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace',
  disabled: false, roles: ['billing-admin'], groups: [{ id: 'a3c1e9f2-0b4d-4f6e-8a7b-9c2d1e3f4a5b', name: 'Engineering' }],
  created_at: '2026-01-15T09:32:00.000Z', updated_at: '2026-01-15T09:32:00.000Z',
};

/** The OpenAPI operations of the routes below (admin/operations.ts). */
export const userOperations = operations('Users', [
  {
    method: 'post', path: '/tenants/{slug}/users', operationId: 'createUser', summary: 'Create a user', description: 'Without a password the user can set one through a password reset.',
    body: CreateUser, status: 201, response: UserAnswer, errors: [409],
    requestExample: { email: 'ada@acme.example', password: 'correct horse battery staple', name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace', email_verified: true, roles: ['billing-admin'] },
    responseExample: { ...userExample, groups: [] },
  },
  {
    method: 'get', path: '/tenants/{slug}/users', operationId: 'listUsers', summary: 'List users by email', description: '`search` matches an email or name prefix.',
    list: true, query: UserList, response: UserAnswer, responseExample: { items: [userExample], next_cursor: null },
  },
  {
    method: 'get', path: '/tenants/{slug}/users/{id}', operationId: 'getUser', summary: 'Read a user with their direct roles and groups',
    description: '`roles` holds the roles assigned to the user directly; roles held through a group show in `groups`.', response: UserAnswer, responseExample: userExample,
  },
  {
    method: 'patch', path: '/tenants/{slug}/users/{id}', operationId: 'updateUser', summary: 'Change a user',
    description: '`disabled: true` ends their sessions and refuses their logins and refreshes; a new email is unverified (unless `email_verified` is given) and gets a verification mail.',
    body: PatchUser, response: UserAnswer, errors: [409], requestExample: { disabled: true },
  },
  { method: 'delete', path: '/tenants/{slug}/users/{id}', operationId: 'deleteUser', summary: 'Delete a user (ends their sessions)', status: 204 },
  { method: 'put', path: '/tenants/{slug}/users/{id}/roles', operationId: 'replaceUserRoles', summary: 'Replace a user\'s direct roles', body: UserRoles, response: RoleNamesAnswer, requestExample: { roles: ['billing-admin'] } },
  { method: 'put', path: '/tenants/{slug}/users/{id}/password', operationId: 'setUserPassword', summary: 'Set a user\'s password (the tenant\'s password policy applies)', body: UserPassword, status: 204 },
]);

export function userRoutes(router: Router, deps: Deps, registry: TenantRegistry) {
  const admin = requireAdmin(deps);
  const ended = backchannelLogout(registry);
  const load = (ctx: Context) => loadUser(deps, ctx);

  router.post('/tenants/:slug/users', admin, async (ctx) => {
    const b = CreateUser.parse(ctx.request.body);
    assertMayGrant(ctx.state.principal, ctx.state.tenant, b.roles);
    let access: UserAccess | undefined;
    const user = await createUser(deps, ctx.state.tenant, {
      email: b.email, password: b.password, name: b.name, givenName: b.given_name, familyName: b.family_name, emailVerified: b.email_verified, roles: b.roles,
    }, ctx.state.actor, undefined, async (trx, created) => void (access = await findAccessOfUser(trx, ctx.state.tenant.id, created.id)));
    ctx.status = 201;
    ctx.body = presentUser(user, access!);
  });

  router.get('/tenants/:slug/users', admin, async (ctx) => {
    const { limit, cursor } = ListQuery.parse(ctx.query);
    const { search } = UserList.parse(ctx.query);
    const rows = await findUsersPage(deps.db, ctx.state.tenant.id, { search, afterEmail: decodeCursor(cursor, z.string()), limit: limit + 1 });
    const access = await findUserAccess(deps.db, ctx.state.tenant.id, rows.slice(0, limit).map((r) => r.user.id));
    ctx.body = page(rows, limit, (r) => r.key, (r) => presentUser(r.user, access.get(r.user.id)!));
  });

  router.get('/tenants/:slug/users/:id', admin, async (ctx) => {
    const user = await load(ctx);
    ctx.body = presentUser(user, await findAccessOfUser(deps.db, ctx.state.tenant.id, user.id));
  });

  router.patch('/tenants/:slug/users/:id', admin, async (ctx) => {
    const b = PatchUser.parse(ctx.request.body);
    let access: UserAccess | undefined;
    const user = await changeUser(deps, ctx.state.tenant, userId(ctx), {
      email: b.email, name: b.name, givenName: b.given_name, familyName: b.family_name, emailVerified: b.email_verified, disabled: b.disabled,
    }, ctx.state.actor, ended, (changed) => void sendVerificationMail(deps, ctx.state.tenant, changed, 'email_changed'),
    async (trx, changed) => void (access = await findAccessOfUser(trx, ctx.state.tenant.id, changed.id)));
    if (!user) throw userNotFound();
    ctx.body = presentUser(user, access!);
  });

  router.delete('/tenants/:slug/users/:id', admin, async (ctx) => {
    if (!(await removeUser(deps, ctx.state.tenant, userId(ctx), ctx.state.actor, ended))) throw userNotFound();
    ctx.status = 204;
  });

  router.put('/tenants/:slug/users/:id/roles', admin, async (ctx) => {
    const { roles } = UserRoles.parse(ctx.request.body);
    assertMayGrant(ctx.state.principal, ctx.state.tenant, roles);
    const user = await load(ctx);
    ctx.body = { roles: await setUserRoles(deps, ctx.state.tenant, user.id, roles, ctx.state.actor) };
  });

  router.put('/tenants/:slug/users/:id/password', admin, async (ctx) => {
    const { password } = UserPassword.parse(ctx.request.body);
    if (!(await setUserPassword(deps, ctx.state.tenant, userId(ctx), password, ctx.state.actor))) throw userNotFound();
    ctx.status = 204;
  });
}
