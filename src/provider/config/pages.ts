import type { KoaContextWithOIDC } from 'oidc-provider';
import { isStorageUnavailable } from '../../deps.js';
import type { Tenant } from '../../domain/tenants/tenants.types.js';
import { logContext } from '../../log/logger.js';
import { renderPage } from '../../views/render.js';

/** Seconds a client is told to wait (Retry-After) while Postgres or Redis cannot be reached. */
export const RETRY_AFTER_SECONDS = 5;

/** The page of a request that failed because storage is down for now: 503, saying to retry. */
export function unavailablePage(requestId: string | undefined) {
  return renderPage('error', {
    title: 'Temporarily unavailable',
    heading: 'Temporarily unavailable',
    message: 'The service cannot complete this request right now. Please try again in a moment.',
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
    title: 'Error',
    heading: out.error === 'server_error' ? 'Something went wrong' : 'This request could not be completed',
    message: out.error_description ? `${out.error}: ${out.error_description}` : out.error,
    requestId: logContext()?.request_id,
  });
}

export function logoutSource(tenant: Tenant) {
  return async (ctx: KoaContextWithOIDC, form: string) => {
    ctx.type = 'html';
    ctx.body = renderPage('logout', { title: 'Sign out', tenantName: tenant.name, form });
  };
}

export function postLogoutSuccessSource(tenant: Tenant) {
  return async (ctx: KoaContextWithOIDC) => {
    ctx.type = 'html';
    ctx.body = renderPage('logged-out', { title: 'Signed out', tenantName: tenant.name, clientName: ctx.oidc.client?.clientName });
  };
}
