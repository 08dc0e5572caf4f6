import type Provider from 'oidc-provider';
import type { Deps } from '../deps.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';
import { log } from '../log/logger.js';

/** Provider events go to logs (and, where they are audit events, to the trail). */
export function forwardProviderEvents(provider: Provider, tenant: Tenant, _deps: Deps) {
  provider.on('server_error', (_ctx, err) => {
    log().error('provider.server_error', { tenant: tenant.slug, error: { name: err.name, message: err.message, stack: err.stack } });
  });
  for (const event of ['grant.error', 'introspection.error', 'revocation.error', 'authorization.error', 'end_session.error', 'userinfo.error', 'backchannel.error']) {
    (provider as any).on(event, (_ctx: unknown, err: { error?: string; error_description?: string }) => {
      log().info('oidc.request_refused', { tenant: tenant.slug, event, error: err.error, description: err.error_description });
    });
  }
}
