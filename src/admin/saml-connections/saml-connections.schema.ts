import { z } from 'zod';
import { MAPPED_CLAIMS, MAX_IDP_METADATA_BYTES, SAML_CONNECTION_NAME } from '../../domain/saml-connections/saml-connections.types.js';

/** Letters, digits and hyphens per label (RFC 1123), at least two labels, lowercase as stored. */
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;
const domain = z.string().trim().toLowerCase().regex(DOMAIN, 'must be a domain name such as example.com');
/** Deduplicated and sorted, so the stored set is what an admin reads back. */
const emailDomains = z.array(domain).max(100).transform((ds) => [...new Set(ds)].sort());

const attributeName = z.string().min(1).max(256).regex(/^[^\x00-\x1F]+$/, 'must not contain control characters');
const attributeMapping = z.object(Object.fromEntries(MAPPED_CLAIMS.map((c) => [c, attributeName.optional()]))).strict();

const roleName = z.string().min(1).max(200);
/** SAML group value → a role name or a list of them; stored as a sorted list. */
const groupRoleMapping = z.record(z.string().min(1).max(256), z.union([roleName, z.array(roleName).min(1).max(50)]))
  .refine((m) => Object.keys(m).length <= 500, 'at most 500 groups')
  .transform((m) => Object.fromEntries(Object.entries(m).map(([g, r]) => [g, [...new Set([r].flat())].sort()])));

// Characters, not bytes: the byte limit is checked with the metadata itself.
const idpMetadataXml = z.string().min(1).max(MAX_IDP_METADATA_BYTES);

const fields = {
  display_name: z.string().trim().min(1).max(200),
  idp_metadata_xml: idpMetadataXml,
  email_domains: emailDomains,
  attribute_mapping: attributeMapping,
  group_role_mapping: groupRoleMapping,
  allow_idp_initiated: z.boolean(),
  upstream_mfa_counts: z.boolean(),
};

export const CreateSamlConnection = z.object({
  name: z.string().regex(SAML_CONNECTION_NAME, 'must match ^[a-z0-9][a-z0-9-]{0,62}$'),
  ...fields,
  group_role_mapping: fields.group_role_mapping.optional(),
  allow_idp_initiated: fields.allow_idp_initiated.default(false),
  upstream_mfa_counts: fields.upstream_mfa_counts.default(false),
}).strict();

/**
 * Any subset; each given field replaces what is stored (mappings too, so a key can be dropped).
 * `name` is not among them: it is in the SP entity ID and ACS URL the IdP was configured with.
 */
export const PatchSamlConnection = z.object({
  display_name: fields.display_name.optional(),
  idp_metadata_xml: fields.idp_metadata_xml.optional(),
  email_domains: fields.email_domains.optional(),
  attribute_mapping: fields.attribute_mapping.optional(),
  group_role_mapping: fields.group_role_mapping.optional(),
  allow_idp_initiated: fields.allow_idp_initiated.optional(),
  upstream_mfa_counts: fields.upstream_mfa_counts.optional(),
}).strict();
