import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { issuerOf, type Tenant } from '../tenants/tenants.types.js';
import type { SamlConnection } from './saml-connections.types.js';

/** What an admin needs to check a certificate against the IdP's console (never the DER itself). */
export function describeCertificate(base64Der: string) {
  const cert = new X509Certificate(Buffer.from(base64Der, 'base64'));
  return {
    fingerprint_sha256: cert.fingerprint256,
    subject: cert.subject,
    issuer: cert.issuer,
    not_before: new Date(cert.validFrom).toISOString(),
    not_after: new Date(cert.validTo).toISOString(),
  };
}

/** Gatehouse's side of the connection (DESIGN.md "SAML federation"): what the IdP admin enters. */
export function samlServiceProviderUrls(publicUrl: string, tenant: Tenant, name: string) {
  const base = `${issuerOf(publicUrl, tenant.slug)}/saml/${name}`;
  return { sp_entity_id: `${base}/metadata`, sp_metadata_url: `${base}/metadata`, acs_url: `${base}/acs` };
}

const timestamp = z.iso.datetime({ offset: true });
const CertificateAnswer = z.object({
  fingerprint_sha256: z.string(), subject: z.string(), issuer: z.string(), not_before: timestamp, not_after: timestamp,
});

export const SamlConnectionAnswer = z.object({
  name: z.string(),
  display_name: z.string(),
  idp_entity_id: z.string(),
  idp_sso_url: z.string().nullable(),
  idp_sso_urls: z.object({ http_redirect: z.string().nullable(), http_post: z.string().nullable() }),
  idp_certificates: z.array(CertificateAnswer),
  sp_entity_id: z.string().describe('Give this to the IdP'),
  sp_metadata_url: z.string(),
  acs_url: z.string().describe('Assertion Consumer Service URL (HTTP-POST)'),
  email_domains: z.array(z.string()),
  attribute_mapping: z.record(z.string(), z.string()),
  group_role_mapping: z.record(z.string(), z.array(z.string())),
  allow_idp_initiated: z.boolean(),
  upstream_mfa_counts: z.boolean().describe('The IdP\'s MFA (its AuthnContextClassRef) counts as MFA for the tenant\'s policy'),
  idp_metadata_xml: z.string().optional().describe('Not in lists'),
  created_at: timestamp,
  updated_at: timestamp,
}).meta({ id: 'SamlConnection', description: 'A SAML IdP federated with a tenant: what was read from its metadata and the SP URLs to give it.' });

/**
 * A connection as the admin API answers it: what the admin wrote, what was understood of the
 * metadata, and the SP URLs. Lists leave out the metadata XML (up to 256 kB each).
 */
export function presentSamlConnection(c: SamlConnection, tenant: Tenant, publicUrl: string, options: { withXml?: boolean } = {}): z.output<typeof SamlConnectionAnswer> {
  return {
    name: c.name,
    display_name: c.displayName,
    idp_entity_id: c.entityId,
    // HTTP-Redirect first: the binding an SP-initiated AuthnRequest normally takes.
    idp_sso_url: c.ssoRedirectUrl ?? c.ssoPostUrl,
    idp_sso_urls: { http_redirect: c.ssoRedirectUrl, http_post: c.ssoPostUrl },
    idp_certificates: c.signingCertificates.map(describeCertificate),
    ...samlServiceProviderUrls(publicUrl, tenant, c.name),
    email_domains: c.emailDomains,
    attribute_mapping: c.attributeMapping,
    group_role_mapping: c.groupRoleMapping,
    allow_idp_initiated: c.allowIdpInitiated,
    upstream_mfa_counts: c.upstreamMfaCounts,
    ...(options.withXml ? { idp_metadata_xml: c.idpMetadataXml } : {}),
    created_at: c.createdAt.toISOString(),
    updated_at: c.updatedAt.toISOString(),
  };
}
