import type { KoaContextWithOIDC } from 'oidc-provider';
import { isStorageUnavailable } from '../../deps.js';
import type { Tenant } from '../../domain/tenants/tenants.types.js';
import { logContext } from '../../log/logger.js';
import { renderPage } from '../../views/render.js';
import { text } from '../../views/text/index.js';

/** Seconds a client is told to wait (Retry-After) while Postgres or Redis cannot be reached. */
export const RETRY_AFTER_SECONDS = 5;

/** The page of a request that failed because storage is down for now: 503, saying to retry. */
export function unavailablePage(requestId: string | undefined) {
  return renderPage('error', {
    title: text.error.unavailableTitle,
    heading: text.error.unavailableTitle,
    message: text.error.unavailable,
    requestId,
  });
}

/** Protocol errors shown to a person: the OAuth error and its description, never a stack. */
export async function renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }, err?: unknown) {
  ctx.type = 'html';
  if (isStorageUnavailable(err)) {
    ctx.status = 503;
    ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
    ctx.body = unavailablePage(logContext()?.request_id);
    return;
  }
  ctx.body = renderPage('error', {
    title: text.error.title,
    heading: out.error === 'server_error' ? text.error.heading : text.error.protocolHeading,
    message: out.error_description ? `${out.error}: ${out.error_description}` : out.error,
    requestId: logContext()?.request_id,
  });
}

export function logoutSource(tenant: Tenant) {
  return async (ctx: KoaContextWithOIDC, form: string) => {
    ctx.type = 'html';
    ctx.body = renderPage('logout', { title: text.logout.title, tenantName: tenant.name, form });
  };
}

export function postLogoutSuccessSource(tenant: Tenant) {
  return async (ctx: KoaContextWithOIDC) => {
    ctx.type = 'html';
    ctx.body = renderPage('logged-out', { title: text.logout.doneTitle, tenantName: tenant.name, clientName: ctx.oidc.client?.clientName });
  };
}
