import { issuerOf, type Tenant } from '../tenants/tenants.types.js';
import type { OidcConnection } from './oidc-connections.types.js';

/** Gatehouse's side of the connection: what the upstream provider's admin registers. */
export const oidcRedirectUri = (publicUrl: string, tenant: Tenant, name: string) => `${issuerOf(publicUrl, tenant.slug)}/oidc/${name}/callback`;

/** A connection as the admin API answers it: everything but the client secret. */
export function presentOidcConnection(c: OidcConnection, tenant: Tenant, publicUrl: string) {
  return {
    name: c.name,
    display_name: c.displayName,
    issuer: c.issuer,
    client_id: c.clientId,
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    scopes: c.scopes,
    email_domains: c.emailDomains,
    claim_mapping: c.claimMapping,
    group_role_mapping: c.groupRoleMapping,
    trust_email: c.trustEmail,
    upstream_mfa_counts: c.upstreamMfaCounts,
    redirect_uri: oidcRedirectUri(publicUrl, tenant, c.name),
    created_at: c.createdAt.toISOString(),
    updated_at: c.updatedAt.toISOString(),
  };
}
