import type { SessionsEnded } from '../domain/sessions/sessions.types.js';
import { logBackchannelFailure, sendBackchannelLogouts } from '../provider/backchannel-logout.js';
import type { TenantRegistry } from './registry.js';

/**
 * Back-channel logout for sessions a service ended (admin revoke, a user disabled or deleted):
 * sent by the tenant's own provider, in the background once the change committed, so a slow or
 * failing client never holds up or fails the call that ended them.
 */
export function backchannelLogout(registry: TenantRegistry): SessionsEnded {
  return (tenant, sessions) => {
    if (!sessions.some((s) => Object.keys(s.sids).length)) return;
    void (async () => {
      const provider = await registry.providerFor(tenant);
      if (provider) await sendBackchannelLogouts(provider, tenant, sessions);
    })().catch((err) => logBackchannelFailure(tenant, undefined, undefined, err));
  };
}
