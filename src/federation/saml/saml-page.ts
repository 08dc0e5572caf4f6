import type { Context } from 'koa';
import { renderPage } from '../../views/render.js';

/**
 * The generic page of a refused SAML login: the reason goes to the audit trail (saml.login.failed),
 * never to the browser, which could otherwise probe which check an altered response fails.
 */
export function renderSamlRefusal(ctx: Context, status: number, tenantName?: string) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  const message = status >= 500
    ? 'Sign-in through your organisation is unavailable right now. Try again in a moment.'
    : 'We could not sign you in through your organisation. Go back to the application and try again, or contact your administrator.';
  ctx.body = renderPage('error', { title: 'Sign-in failed', heading: 'Sign-in failed', message, tenantName, requestId: ctx.state.requestId });
}
