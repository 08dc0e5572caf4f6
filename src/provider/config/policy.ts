import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { Tenant } from '../../domain/tenants/tenants.types.js';
import { ADMIN_CONSENT, adminResource } from './resources.js';

/** DESIGN.md "Interaction pages": levels of assurance a client may ask for with acr_values. */
export const LOA1 = 'urn:gatehouse:loa:1';
export const LOA2 = 'urn:gatehouse:loa:2';
export const ACR_VALUES = [LOA1, LOA2];
export const STEP_UP_REASON = 'loa2_required';

export const asksLoa2 = (acrValues: unknown) => typeof acrValues === 'string' && acrValues.split(' ').includes(LOA2);

/**
 * oidc-provider's login prompt plus one check: a session without a second factor does not satisfy
 * `acr_values=urn:gatehouse:loa:2`, nor a tenant that requires MFA. (acr_values are voluntary in
 * OIDC Core; here they ask for step-up, which mature providers honour.)
 */
export function interactionPolicyFor(tenant: Tenant, publicUrl: string) {
  const policy = interactionPolicy.base();
  // The admin API asks no scope, so oidc-provider's own consent checks never see it: a user
  // consents to it explicitly once per grant (the consent page names it), prompt=none included.
  const admin = adminResource(publicUrl);
  policy.get('consent')!.checks.add(new interactionPolicy.Check('admin_resource_not_granted', 'the admin API was not consented to', 'consent_required', (ctx: KoaContextWithOIDC) => {
    if (!ctx.oidc.resourceServers?.[admin]) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    const granted = (ctx.oidc.grant as { resources?: Record<string, string> } | undefined)?.resources?.[admin] ?? '';
    return granted.split(' ').includes(ADMIN_CONSENT) ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
  }));
  // OpenID Connect "Initiating User Registration" 1.0: prompt=create opens the sign-up page, only
  // where the tenant lets users sign up (elsewhere the prompt value is refused as unsupported).
  if (tenant.settings.registration.enabled) policy.add(new interactionPolicy.Prompt({ name: 'create', requestable: true }), 0);
  const login = policy.get('login')!;
  login.checks.add(new interactionPolicy.Check(STEP_UP_REASON, 'a second factor is required', 'login_required', (ctx: KoaContextWithOIDC) => {
    const session = ctx.oidc.session;
    if (!session?.accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    const needed = tenant.settings.mfa_required || asksLoa2(ctx.oidc.params?.acr_values);
    return needed && session.acr !== LOA2 ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
  }));
  return policy;
}

