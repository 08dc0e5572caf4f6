import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { presentUser } from '../../domain/present.js';
import type { Deps } from '../../deps.js';
import { findUserById, findUsersPage } from '../../domain/users/users.queries.js';
import { changeUser, createUser, removeUser, setUserPassword, setUserRoles } from '../../domain/users/users.service.js';
import { sendVerificationMail } from '../../mail/verification.js';
import { backchannelLogout } from '../../tenancy/backchannel-logout.js';
import type { TenantRegistry } from '../../tenancy/registry.js';
import { assertMayGrant, requireAdmin } from '../access.js';
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

export function userRoutes(router: Router, deps: Deps, registry: TenantRegistry) {
  const admin = requireAdmin(deps);
  const ended = backchannelLogout(registry);
  const load = (ctx: Context) => loadUser(deps, ctx);

  router.post('/tenants/:slug/users', admin, async (ctx) => {
    const b = CreateUser.parse(ctx.request.body);
    assertMayGrant(ctx.state.principal, ctx.state.tenant, b.roles);
    const user = await createUser(deps, ctx.state.tenant, {
      email: b.email, password: b.password, name: b.name, givenName: b.given_name, familyName: b.family_name, emailVerified: b.email_verified, roles: b.roles,
    }, ctx.state.actor);
    ctx.status = 201;
    ctx.body = presentUser(user);
  });

  router.get('/tenants/:slug/users', admin, async (ctx) => {
    const { limit, cursor } = ListQuery.parse(ctx.query);
    const { search } = UserList.parse(ctx.query);
    const rows = await findUsersPage(deps.db, ctx.state.tenant.id, { search, afterEmail: decodeCursor(cursor, z.string()), limit: limit + 1 });
    ctx.body = page(rows, limit, (r) => r.key, (r) => presentUser(r.user));
  });

  router.get('/tenants/:slug/users/:id', admin, async (ctx) => {
    ctx.body = presentUser(await load(ctx));
  });

  router.patch('/tenants/:slug/users/:id', admin, async (ctx) => {
    const b = PatchUser.parse(ctx.request.body);
    const user = await changeUser(deps, ctx.state.tenant, userId(ctx), {
      email: b.email, name: b.name, givenName: b.given_name, familyName: b.family_name, emailVerified: b.email_verified, disabled: b.disabled,
    }, ctx.state.actor, ended, (changed) => void sendVerificationMail(deps, ctx.state.tenant, changed, 'email_changed'));
    if (!user) throw userNotFound();
    ctx.body = presentUser(user);
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
