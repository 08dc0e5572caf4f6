import type { Context } from 'koa';
import { renderFederationError } from '../pages.js';

/**
 * The generic page of a refused SAML login: the reason goes to the audit trail (saml.login.failed),
 * never to the browser, which could otherwise probe which check an altered response fails. It is
 * the one page of every refused federated login (federation/pages.ts; texts in views/text).
 */
export function renderSamlRefusal(ctx: Context, status: number, tenantName?: string) {
  renderFederationError(ctx, status, tenantName);
}
