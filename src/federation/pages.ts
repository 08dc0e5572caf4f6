import type { Context } from 'koa';
import { renderPage } from '../views/render.js';

/**
 * The one page a refused federated login shows: the reason goes to the audit trail and the log,
 * never to the browser (DESIGN.md: errors never reveal what failed).
 */
export function renderFederationError(ctx: Context, status: number, tenantName?: string) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  const message = status >= 500
    ? 'The sign-in provider could not be reached or answered in a way we could not accept. Try again in a moment.'
    : 'We could not sign you in with this provider. Go back to the application and try again, or contact your administrator.';
  ctx.body = renderPage('error', { title: 'Sign-in failed', heading: 'Sign-in failed', message, tenantName, requestId: ctx.state.requestId });
}
