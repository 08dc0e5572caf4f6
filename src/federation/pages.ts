import type { Context } from 'koa';
import { renderPage } from '../views/render.js';
import { text } from '../views/text/index.js';

/**
 * The one page a refused federated login shows: the reason goes to the audit trail and the log,
 * never to the browser (DESIGN.md: errors never reveal what failed).
 */
export function renderFederationError(ctx: Context, status: number, tenantName?: string) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  const message = status >= 500 ? text.federation.unreachable : text.federation.refused;
  ctx.body = renderPage('error', { title: text.federation.failedTitle, heading: text.federation.failedTitle, message, tenantName, requestId: ctx.state.requestId });
}
