import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Deps } from '../deps.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';
import { PasswordPolicyError } from '../domain/users/users.service.js';
import { requestPasswordReset, resetLinkUsable, resetPassword, type Requester } from '../mail/password-reset.js';
import { MAIL_TOKEN_TTL_SECONDS } from '../mail/tokens.js';
import { verificationLinkAddress, verifyEmail } from '../mail/verification.js';
import { backchannelLogout } from '../tenancy/backchannel-logout.js';
import type { TenantRegistry } from '../tenancy/registry.js';
import { renderPage, type PageData } from '../views/render.js';
import { checkFormToken, formToken } from './csrf.js';
import { text } from '../views/text/index.js';

const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

const field = (ctx: Context, name: string, max: number) => {
  const value = ((ctx.request as { body?: Record<string, unknown> }).body ?? {})[name];
  return typeof value === 'string' ? value.slice(0, max) : '';
};

const LINK_GONE = text.passwordReset.linkGone;

/**
 * Pages reached from a mail or the login page, with no sign-in behind them (DESIGN.md
 * "Self-service"): forgot password at `${issuer}/password/forgot`, the reset link at
 * `${issuer}/password/reset?token=…`, the verification link at `${issuer}/email/verify?token=…`.
 * A link's GET only shows a form; the POST uses the token, so a mail scanner that fetches links
 * uses nothing up. Every form carries a CSRF token (csrf.ts); no page needs JavaScript.
 */
export function selfServiceRoutes(deps: Deps, registry: TenantRegistry) {
  const router = new Router({ prefix: '/t/:slug' });
  const ended = backchannelLogout(registry);
  const tenantOf = (ctx: Context) => ctx.state.tenant as Tenant;
  const requester = (ctx: Context): Requester => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') || null });
  const paths = (tenant: Tenant) => ({ forgot: `/t/${tenant.slug}/password/forgot`, reset: `/t/${tenant.slug}/password/reset`, verify: `/t/${tenant.slug}/email/verify` });

  const render = (ctx: Context, view: string, data: PageData, status = 200) => {
    const tenant = tenantOf(ctx);
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = renderPage(view, { tenantName: tenant.name, csrf: formToken(deps, ctx, tenant), paths: paths(tenant), ...data });
  };
  const notice = (ctx: Context, status: number, data: { title: string; heading: string; message: string; error?: boolean; link?: { href: string; text: string } }) =>
    render(ctx, 'notice', data, status);
  const linkGone = (ctx: Context, again: 'forgot' | 'none') => notice(ctx, 400, {
    title: text.passwordReset.linkExpiredTitle, heading: text.passwordReset.linkExpiredTitle, message: LINK_GONE, error: true,
    link: again === 'forgot' ? { href: paths(tenantOf(ctx)).forgot, text: text.passwordReset.askAgain } : undefined,
  });
  /** A form posted without its CSRF token (or with an old one): nothing happened. */
  const checked = (handler: (ctx: Context) => Promise<void>) => async (ctx: Context) => {
    if (!checkFormToken(deps, ctx, tenantOf(ctx), field(ctx, 'csrf', 200))) {
      return notice(ctx, 403, { title: text.common.forbidden, heading: text.passwordReset.formExpiredHeading, message: text.passwordReset.formExpired, error: true });
    }
    await handler(ctx);
  };
  const token = (ctx: Context, from: 'query' | 'body') => (from === 'query' ? (typeof ctx.query.token === 'string' ? ctx.query.token : '') : field(ctx, 'token', 200)).slice(0, 200);

  router.get('/password/forgot', async (ctx) => render(ctx, 'password-forgot', { title: text.passwordForgot.title }));

  router.post('/password/forgot', form, checked(async (ctx) => {
    const email = field(ctx, 'email', 320).trim();
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) {
      return render(ctx, 'password-forgot', { title: text.passwordForgot.title, error: text.passwordForgot.missing, email }, 400);
    }
    // The answer never waits for the lookup or the mail: known and unknown addresses look alike.
    const tenant = tenantOf(ctx);
    const from = requester(ctx);
    deps.mailer.background('password.reset_request', () => requestPasswordReset(deps, tenant, email, from));
    notice(ctx, 200, {
      title: text.passwordForgot.sentTitle, heading: text.passwordForgot.sentHeading,
      message: text.passwordForgot.sent(MAIL_TOKEN_TTL_SECONDS.password_reset / 60),
    });
  }));

  router.get('/password/reset', async (ctx) => {
    const value = token(ctx, 'query');
    if (!(await resetLinkUsable(deps, tenantOf(ctx), value))) return linkGone(ctx, 'forgot');
    render(ctx, 'password-reset', { title: text.passwordReset.title, token: value, minLength: tenantOf(ctx).settings.password_policy.min_length });
  });

  router.post('/password/reset', form, checked(async (ctx) => {
    const tenant = tenantOf(ctx);
    const value = token(ctx, 'body');
    try {
      // One character past the limit is kept, so an over-long password is refused, not cut.
      const user = await resetPassword(deps, tenant, value, field(ctx, 'password', 1025), requester(ctx), ended);
      if (!user) return linkGone(ctx, 'forgot');
    } catch (err) {
      if (!(err instanceof PasswordPolicyError)) throw err;
      const message = `${err.message[0].toUpperCase()}${err.message.slice(1)}.`;
      return render(ctx, 'password-reset', { title: text.passwordReset.title, token: value, minLength: tenant.settings.password_policy.min_length, error: message }, 400);
    }
    notice(ctx, 200, {
      title: text.passwordReset.doneTitle, heading: text.passwordReset.doneHeading,
      message: text.passwordReset.done,
    });
  }));

  router.get('/email/verify', async (ctx) => {
    const value = token(ctx, 'query');
    const email = await verificationLinkAddress(deps, tenantOf(ctx), value);
    if (!email) return linkGone(ctx, 'none');
    render(ctx, 'email-verify', { title: text.emailConfirm.title, token: value, email });
  });

  router.post('/email/verify', form, checked(async (ctx) => {
    const user = await verifyEmail(deps, tenantOf(ctx), token(ctx, 'body'), requester(ctx));
    if (!user) return linkGone(ctx, 'none');
    notice(ctx, 200, { title: text.emailConfirm.doneTitle, heading: text.emailConfirm.doneHeading, message: text.emailConfirm.done(user.email) });
  }));

  return router;
}
