import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { ACCOUNT_CLIENT_ID } from '../../domain/clients/builtin-clients.js';

/**
 * oidc-provider's own loadExistingGrant, plus one rule: the account pages are Gatehouse itself,
 * so the user is never asked to consent to them; their grant holds `openid` only.
 */
export async function loadExistingGrant(ctx: KoaContextWithOIDC) {
  const { oidc } = ctx;
  const clientId = oidc.client!.clientId;
  const grantId = (oidc.result as { consent?: { grantId?: string } } | undefined)?.consent?.grantId || oidc.session!.grantIdFor(clientId);
  if (grantId) return oidc.provider.Grant.find(grantId);
  if (clientId !== ACCOUNT_CLIENT_ID || !oidc.session?.accountId) return undefined;
  const grant = new oidc.provider.Grant({ clientId, accountId: oidc.session.accountId });
  grant.addOIDCScope('openid');
  await grant.save();
  return grant;
}

/**
 * The account pages' ID Token always carries `sid` (OIDC Back-Channel Logout 1.0 §2.4), so their
 * cookie can name the provider session it belongs to and end with it; other clients get it as
 * oidc-provider decides (backchannel_logout_session_required).
 */
export function accountClientSid(provider: Provider) {
  const proto = provider.Client.prototype as unknown as { includeSid(): boolean; clientId: string };
  const includeSid = proto.includeSid;
  proto.includeSid = function includeSidForAccount(this: typeof proto) {
    return this.clientId === ACCOUNT_CLIENT_ID || includeSid.call(this);
  };
}
