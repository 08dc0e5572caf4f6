import type Provider from 'oidc-provider';
import type { UserSession } from '../domain/sessions/sessions.types.js';
import type { Tenant } from '../domain/tenants/tenants.types.js';
import { log } from '../log/logger.js';

/** oidc-provider's Client has this method; its types do not declare it. */
interface LogoutClient {
  clientId: string;
  backchannelLogoutUri?: string;
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

/**
 * OIDC Back-Channel Logout 1.0 §2.5: every client of the ended sessions that registered a
 * backchannel_logout_uri receives a Logout Token. oidc-provider makes and sends it exactly as its
 * own end_session does (Client#backchannelLogout: signed with the tenant's keys, typ logout+jwt,
 * iss, aud, iat, jti, events, sub, and sid when the client registered
 * backchannel_logout_session_required), through its `fetch` (OUTBOUND_ALLOW) with its timeout.
 * Resolves to the ids of the clients that acknowledged; never rejects.
 */
export async function sendBackchannelLogouts(provider: Provider, tenant: Tenant, sessions: UserSession[]) {
  const deliveries = sessions.flatMap((s) => Object.entries(s.sids).map(([clientId, sid]) => deliver(provider, tenant, clientId, s.userId, sid)));
  return (await Promise.all(deliveries)).filter((id): id is string => id !== undefined);
}

async function deliver(provider: Provider, tenant: Tenant, clientId: string, sub: string, sid: string) {
  try {
    // A client deleted since the login has nobody to tell.
    const client = (await provider.Client.find(clientId)) as unknown as LogoutClient | undefined;
    if (!client?.backchannelLogoutUri) return undefined;
    await client.backchannelLogout(sub, sid);
    logBackchannelSent(tenant, clientId, sub);
    return clientId;
  } catch (err) {
    logBackchannelFailure(tenant, clientId, sub, err);
    return undefined;
  }
}

export function logBackchannelSent(tenant: Tenant, clientId: string, sub: string | undefined) {
  log().info('backchannel.sent', { tenant: tenant.slug, client_id: clientId, user_id: sub });
}

/** The reason, never the Logout Token: an error from fetch names its cause (a refused address, a timeout). */
export function logBackchannelFailure(tenant: Tenant, clientId: string | undefined, sub: string | undefined, err: unknown) {
  const e = err as { message?: string; cause?: { message?: string } } | undefined;
  const reason = [e?.message, e?.cause?.message].filter(Boolean).join(': ') || String(err);
  log().warn('backchannel.failed', { tenant: tenant.slug, client_id: clientId, user_id: sub, reason });
}
