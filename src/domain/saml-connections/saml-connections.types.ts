/** A connection name is a path segment of `${issuer}/saml/${name}/metadata` and `/acs`. */
export const SAML_CONNECTION_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Gatehouse claims an IdP's SAML attributes may fill (DESIGN.md "SAML federation"). */
export const MAPPED_CLAIMS = ['email', 'name', 'given_name', 'family_name', 'groups'] as const;
export type MappedClaim = (typeof MAPPED_CLAIMS)[number];
/** Claim → SAML attribute name; without `email` the login flow reads the NameID. */
export type AttributeMapping = Partial<Record<MappedClaim, string>>;

/** Metadata larger than this is refused: real IdPs (ADFS included) stay well below it. */
export const MAX_IDP_METADATA_BYTES = 256 * 1024;

/** What Gatehouse understood of an IdP's metadata. */
export interface IdpDescription {
  entityId: string;
  /** SingleSignOnService locations by binding; at least one is present. */
  ssoRedirectUrl: string | null;
  ssoPostUrl: string | null;
  /** Base64 DER of every certificate the IdP may sign with (rollover lists more than one). */
  signingCertificates: string[];
}

/** What an admin writes; everything else is derived from the metadata. */
export interface SamlConnectionInput {
  displayName: string;
  idpMetadataXml: string;
  emailDomains: string[];
  attributeMapping: AttributeMapping;
  /** SAML group value → tenant role names. */
  groupRoleMapping: Record<string, string[]>;
  allowIdpInitiated: boolean;
  /** The IdP's MFA (its AuthnContextClassRef) counts as Gatehouse MFA for the tenant's policy. */
  upstreamMfaCounts: boolean;
}

export interface SamlConnection extends IdpDescription, SamlConnectionInput {
  tenantId: string;
  name: string;
  createdAt: Date;
  updatedAt: Date;
}
