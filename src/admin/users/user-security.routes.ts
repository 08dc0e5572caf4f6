import type Router from '@koa/router';
import type { Deps } from '../../deps.js';
import { resetMfa } from '../../domain/mfa/mfa.service.js';
import { presentSession, SessionAnswer } from '../../domain/present.js';
import { findSessionsOfUser } from '../../domain/sessions/sessions.queries.js';
import { revokeUserSessions } from '../../domain/sessions/sessions.service.js';
import { unlockAccount } from '../../domain/users/unlock.service.js';
import { backchannelLogout } from '../../tenancy/backchannel-logout.js';
import type { TenantRegistry } from '../../tenancy/registry.js';
import { requireAdmin } from '../access.js';
import { operations } from '../operations.js';
import { Problem } from '../problem.js';
import { loadUser } from './users.routes.js';

const sessionNotFound = () => new Problem(404, 'session_not_found', 'This user has no live session with this id.');

/** The OpenAPI operations of the routes below (admin/operations.ts). */
export const userSecurityOperations = [
  ...operations('Sessions', [
    { method: 'get', path: '/tenants/{slug}/users/{id}/sessions', operationId: 'listUserSessions', summary: 'List a user\'s live sessions (one page: next_cursor is null)', list: true, onePage: true, response: SessionAnswer },
    { method: 'delete', path: '/tenants/{slug}/users/{id}/sessions', operationId: 'revokeUserSessions', summary: 'End every session and grant of a user (refresh tokens included)', status: 204 },
    { method: 'delete', path: '/tenants/{slug}/users/{id}/sessions/{sid}', operationId: 'revokeUserSession', summary: 'End one session and revoke its grants', status: 204 },
  ]),
  ...operations('Users', [
    { method: 'delete', path: '/tenants/{slug}/users/{id}/mfa', operationId: 'resetUserMfa', summary: 'Remove a user\'s MFA factors and recovery codes', status: 204 },
    { method: 'post', path: '/tenants/{slug}/users/{id}/unlock', operationId: 'unlockUser', summary: 'Lift a lockout and forget failed attempts', status: 204 },
  ]),
];

/** A user's sessions, MFA reset and lockout release. */
export function userSecurityRoutes(router: Router, deps: Deps, registry: TenantRegistry) {
  const admin = requireAdmin(deps);
  const ended = backchannelLogout(registry);
  const load = (ctx: Parameters<typeof admin>[0]) => loadUser(deps, ctx);

  router.get('/tenants/:slug/users/:id/sessions', admin, async (ctx) => {
    const user = await load(ctx);
    ctx.body = { items: (await findSessionsOfUser(deps.db, ctx.state.tenant.id, user.id)).map(presentSession), next_cursor: null };
  });

  router.delete('/tenants/:slug/users/:id/sessions', admin, async (ctx) => {
    const user = await load(ctx);
    await revokeUserSessions(deps, ctx.state.tenant, user.id, ctx.state.actor, undefined, ended);
    ctx.status = 204;
  });

  router.delete('/tenants/:slug/users/:id/sessions/:sid', admin, async (ctx) => {
    const user = await load(ctx);
    const sid = ctx.params.sid;
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(sid)) throw sessionNotFound();
    if ((await revokeUserSessions(deps, ctx.state.tenant, user.id, ctx.state.actor, sid, ended)) === undefined) throw sessionNotFound();
    ctx.status = 204;
  });

  router.delete('/tenants/:slug/users/:id/mfa', admin, async (ctx) => {
    const user = await load(ctx);
    await resetMfa(deps, ctx.state.tenant, user.id, ctx.state.actor, ended);
    ctx.status = 204;
  });

  router.post('/tenants/:slug/users/:id/unlock', admin, async (ctx) => {
    const user = await load(ctx);
    await unlockAccount(deps, ctx.state.tenant, user.id, ctx.state.actor);
    ctx.status = 204;
  });
}
