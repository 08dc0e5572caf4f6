import { X509Certificate } from 'node:crypto';
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

/**
 * A connection as the admin API answers it: what the admin wrote, what was understood of the
 * metadata, and the SP URLs. Lists leave out the metadata XML (up to 256 kB each).
 */
export function presentSamlConnection(c: SamlConnection, tenant: Tenant, publicUrl: string, options: { withXml?: boolean } = {}) {
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
