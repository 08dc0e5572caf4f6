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
