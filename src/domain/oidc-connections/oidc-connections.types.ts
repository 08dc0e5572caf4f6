import { oidcClientSecretAad } from '../../security/sealed-columns.js';
/** A connection name is a path segment of `${issuer}/oidc/${name}/callback`. */
export const OIDC_CONNECTION_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Gatehouse claims an upstream's claims may fill (DESIGN.md "OIDC federation"). */
export const MAPPED_OIDC_CLAIMS = ['email', 'name', 'given_name', 'family_name', 'groups'] as const;
export type MappedOidcClaim = (typeof MAPPED_OIDC_CLAIMS)[number];
/** Gatehouse claim → upstream claim name; an unmapped claim is read under its own name. */
export type ClaimMapping = Partial<Record<MappedOidcClaim, string>>;

export const TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export type TokenEndpointAuthMethod = (typeof TOKEN_ENDPOINT_AUTH_METHODS)[number];

export const DEFAULT_OIDC_SCOPES = ['openid', 'profile', 'email'];

/** What an admin writes (the secret in the clear, only on its way in). */
export interface OidcConnectionInput {
  displayName: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  scopes: string[];
  emailDomains: string[];
  claimMapping: ClaimMapping;
  /** Upstream group value → tenant role names. */
  groupRoleMapping: Record<string, string[]>;
  trustEmail: boolean;
  upstreamMfaCounts: boolean;
}

/** A stored connection; the client secret stays sealed until a login needs it. */
export interface OidcConnection extends Omit<OidcConnectionInput, 'clientSecret'> {
  tenantId: string;
  name: string;
  clientSecretSealed: string;
  createdAt: Date;
  updatedAt: Date;
}

/** The additional data the sealed secret is bound to: it opens for this connection only. */
export const clientSecretAad = oidcClientSecretAad;
