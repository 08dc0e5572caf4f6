import { z } from 'zod';
import { issuerOf, type Tenant } from '../tenants/tenants.types.js';
import { MAPPED_OIDC_CLAIMS, TOKEN_ENDPOINT_AUTH_METHODS, type OidcConnection } from './oidc-connections.types.js';

/** Gatehouse's side of the connection: what the upstream provider's admin registers. */
export const oidcRedirectUri = (publicUrl: string, tenant: Tenant, name: string) => `${issuerOf(publicUrl, tenant.slug)}/oidc/${name}/callback`;

const timestamp = z.iso.datetime({ offset: true });

export const OidcConnectionAnswer = z.object({
  name: z.string(),
  display_name: z.string(),
  issuer: z.string().describe('The upstream provider\'s issuer; its discovery document is read from it'),
  client_id: z.string().describe('Gatehouse\'s client_id at the upstream provider'),
  token_endpoint_auth_method: z.enum(TOKEN_ENDPOINT_AUTH_METHODS),
  scopes: z.array(z.string()),
  email_domains: z.array(z.string()),
  claim_mapping: z.partialRecord(z.enum(MAPPED_OIDC_CLAIMS), z.string()),
  group_role_mapping: z.record(z.string(), z.array(z.string())),
  trust_email: z.boolean().describe('Link an existing local account by email when the upstream says email_verified'),
  upstream_mfa_counts: z.boolean().describe('An upstream login with a second factor (amr) counts as Gatehouse multi-factor'),
  redirect_uri: z.string().describe('Register this redirect URI at the upstream provider'),
  created_at: timestamp,
  updated_at: timestamp,
}).meta({ id: 'OidcConnection', description: 'An upstream OpenID provider federated with a tenant. The client secret is never answered.' });

/** A connection as the admin API answers it: everything but the client secret. */
export function presentOidcConnection(c: OidcConnection, tenant: Tenant, publicUrl: string): z.output<typeof OidcConnectionAnswer> {
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
