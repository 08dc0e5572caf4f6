/**
 * Every database column holding a value sealed with the master key (Secrets.encrypt), with the
 * AAD its owner seals it under. `gatehouse master-key rotate` (domain/keys/master-key-rotation.ts)
 * re-encrypts exactly these: a feature that stores a new kind of secret adds its line here, and
 * its code seals with the `aad` of that line.
 *
 * `idColumns` is the row's primary key, tenant_id first (DESIGN.md "Tenants and URLs"): the
 * rotation runs one transaction per tenant.
 */
export interface SealedColumn {
  table: string;
  idColumns: readonly string[];
  column: string;
  aad(row: Record<string, unknown>): string;
}

export const signingKeyAad = (tenantId: string, kid: string) => `signing-key:${tenantId}:${kid}`;
export const totpSeedAad = (tenantId: string, userId: string) => `totp:${tenantId}:${userId}`;
export const oidcClientSecretAad = (tenantId: string, name: string) => `oidc-connection:${tenantId}:${name}`;
export const samlSpKeyAad = (tenantId: string, name: string) => `saml-sp-key:${tenantId}:${name}`;

export const SEALED_COLUMNS: readonly SealedColumn[] = [
  { table: 'signing_keys', idColumns: ['tenant_id', 'kid'], column: 'private_jwk_encrypted', aad: (r) => signingKeyAad(String(r.tenant_id), String(r.kid)) },
  { table: 'user_mfa_factors', idColumns: ['tenant_id', 'user_id', 'type'], column: 'secret_encrypted', aad: (r) => totpSeedAad(String(r.tenant_id), String(r.user_id)) },
  { table: 'oidc_connections', idColumns: ['tenant_id', 'name'], column: 'client_secret', aad: (r) => oidcClientSecretAad(String(r.tenant_id), String(r.name)) },
  // null until a connection first needs its SP key (domain/saml-connections/sp-key.ts)
  { table: 'saml_connections', idColumns: ['tenant_id', 'name'], column: 'sp_signing_key_sealed', aad: (r) => samlSpKeyAad(String(r.tenant_id), String(r.name)) },
];
