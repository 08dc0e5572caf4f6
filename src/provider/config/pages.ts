import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Tenant } from '../../domain/tenants/tenants.types.js';
import { logContext } from '../../log/logger.js';
import { renderPage } from '../../views/render.js';

/** Protocol errors shown to a person: the OAuth error and its description, never a stack. */
export async function renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }) {
  ctx.type = 'html';
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
