export interface ClientRecord {
  tenantId: string;
  clientId: string;
  /** OIDC client metadata (RFC 7591 names), never the secret. */
  metadata: Record<string, unknown>;
  secretHash: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Auth methods that need no shared secret. */
export const PUBLIC_AUTH_METHODS = new Set(['none', 'private_key_jwt']);
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;

/**
 * RFC 6749 §4.4: grants for confidential clients only. A public client (auth method none) holding
 * client_credentials would give a token with its roles to anyone who knows its client_id.
 */
export const CONFIDENTIAL_ONLY_GRANTS = new Set(['client_credentials']);
