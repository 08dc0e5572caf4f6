import Router from '@koa/router';
import type { Context } from 'koa';
import type { Deps } from '../deps.js';
import { backchannelLogout } from '../tenancy/backchannel-logout.js';
import type { TenantRegistry } from '../tenancy/registry.js';
import { form, loadAccount, type Account } from './page.js';
import { submitBeginEnroll, submitConfirmEnroll, submitRemove, submitRenewRecovery, renderMfa } from './pages/mfa.js';
import { renderPassword, submitPassword } from './pages/password.js';
import { renderProfile, submitProfile } from './pages/profile.js';
import { renderSessions, submitRevoke } from './pages/sessions.js';
import { finishSignIn, signOut, startSignIn } from './sign-in.js';

/**
 * `${issuer}/account` (DESIGN.md "Interaction pages", self-service): the user's own pages, signed
 * in as the built-in client `gatehouse-account` through the tenant's own login (sign-in.ts).
 */
export function accountRoutes(deps: Deps, registry: TenantRegistry) {
  const router = new Router({ prefix: '/t/:slug/account' });
  const ended = backchannelLogout(registry);
  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  const page = (handler: (account: Account) => Promise<void> | void) => async (ctx: Context) => {
    const account = await loadAccount(deps, ctx, { post: false });
    if (account) await handler(account);
  };
  const action = (handler: (account: Account) => Promise<void> | void) => [form, async (ctx: Context) => {
    const account = await loadAccount(deps, ctx, { post: true });
    if (account) await handler(account);
  }] as const;

  router.get('/login', (ctx) => startSignIn(deps, ctx));
  router.get('/callback', (ctx) => finishSignIn(deps, ctx));
  router.post('/logout', ...action((a) => signOut(a, ended)));

  router.get('/', page((a) => renderProfile(a)));
  router.post('/profile', ...action(submitProfile));
  router.get('/password', page((a) => renderPassword(a)));
  router.post('/password', ...action((a) => submitPassword(a, ended)));
  router.get('/mfa', page((a) => renderMfa(a)));
  router.post('/mfa/totp', ...action(submitBeginEnroll));
  router.post('/mfa/totp/confirm', ...action(submitConfirmEnroll));
  router.post('/mfa/totp/remove', ...action(submitRemove));
  router.post('/mfa/recovery', ...action(submitRenewRecovery));
  router.post('/mfa/done', ...action((a) => {
    a.ctx.status = 303;
    a.ctx.redirect(`${a.base}/mfa`);
  }));
  router.get('/sessions', page((a) => renderSessions(a)));
  router.post('/sessions/revoke', ...action((a) => submitRevoke(a, ended)));
  return router;
}
