import { bodyParser } from '@koa/bodyparser';
import { createHmac } from 'node:crypto';
import type { Context } from 'koa';
import type { Actor, Deps } from '../deps.js';
import { ACCOUNT_CLIENT_ID } from '../domain/clients/builtin-clients.js';
import { findSessionsOfUser } from '../domain/sessions/sessions.queries.js';
import type { UserSession } from '../domain/sessions/sessions.types.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';
import { findUserById } from '../domain/users/users.queries.js';
import type { User } from '../domain/users/users.types.js';
import { constantTimeEqual } from '../security/secrets.js';
import { renderPage, type PageData } from '../views/render.js';
import { accountBase, endSession, readSession, type AccountSession } from './session.js';
import { text } from '../views/text/index.js';

/** One signed-in request of the account pages. */
export interface Account {
  ctx: Context;
  deps: Deps;
  tenant: Tenant;
  user: User;
  cookie: AccountSession;
  /** The tenant session this sign-in belongs to (listed on the sessions page as "this browser"). */
  session: UserSession;
  /** `/t/:slug/account`, the prefix of every link and form action. */
  base: string;
  csrf: string;
  /** Every change is audited with the user as actor. */
  actor: Actor;
  render(view: string, data: PageData, status?: number): void;
}

export const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

export const field = (ctx: Context, name: string, max: number) => {
  const value = ((ctx.request as { body?: Record<string, unknown> }).body ?? {})[name];
  return typeof value === 'string' ? value.slice(0, max) : '';
};

/** Synchronizer token of one account sign-in: HMAC of its random key under the tenant's cookie key. */
const csrfOf = (deps: Deps, tenant: Tenant, cookie: AccountSession) => createHmac('sha256', deps.secrets.cookieKey(tenant.id)).update(`account-csrf:${cookie.key}`).digest('base64url');

/** Every account answer is personal: never stored by a browser or a proxy. */
export function renderAccountPage(ctx: Context, tenant: Tenant, view: string, data: PageData, status = 200) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = renderPage(view, { tenantName: tenant.name, base: accountBase(tenant), ...data });
}

/**
 * The signed-in account of this request, or undefined once it has answered itself: a page without
 * a valid cookie goes to sign-in (and back), and so does one whose user is disabled or deleted or
 * whose tenant session ended (revoked here or by an admin, signed out, expired). A form must carry
 * this sign-in's CSRF token.
 */
export async function loadAccount(deps: Deps, ctx: Context, { post }: { post: boolean }): Promise<Account | undefined> {
  const tenant = ctx.state.tenant as Tenant;
  const base = accountBase(tenant);
  const cookie = readSession(ctx, deps, tenant);
  const user = cookie ? await findUserById(deps.db, tenant.id, cookie.sub) : undefined;
  const session = user && !user.disabled ? (await findSessionsOfUser(deps.db, tenant.id, user.id)).find((s) => s.sids[ACCOUNT_CLIENT_ID] === cookie!.sid) : undefined;
  if (!cookie || !user || !session) {
    if (cookie) endSession(ctx, deps, tenant);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(`${base}/login?return=${encodeURIComponent(post ? base : ctx.path)}`);
    return undefined;
  }
  const csrf = csrfOf(deps, tenant, cookie);
  if (post && !constantTimeEqual(csrf, field(ctx, 'csrf', 200))) {
    renderAccountPage(ctx, tenant, 'error', { title: text.common.forbidden, message: text.common.formExpiredReload }, 403);
    return undefined;
  }
  const account: Account = {
    ctx, deps, tenant, user, cookie, session, base, csrf,
    actor: { id: `user:${user.id}`, ip: ctx.ip, userAgent: ctx.get('user-agent') || null },
    render(view, data, status) {
      renderAccountPage(ctx, tenant, view, { csrf, user: account.user, ...data }, status);
    },
  };
  return account;
}
