import { findTenantRowsPage } from '../../db/keyset.js';
import type { Db } from '../../db/knex.js';
import type { OidcConnection, OidcConnectionInput } from './oidc-connections.types.js';

const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);

function toOidcConnection(row: any, emailDomains: string[]): OidcConnection {
  return {
    tenantId: row.tenant_id,
    name: row.name,
    displayName: row.display_name,
    issuer: row.issuer,
    clientId: row.client_id,
    clientSecretSealed: row.client_secret,
    tokenEndpointAuthMethod: row.token_endpoint_auth_method,
    scopes: json(row.scopes),
    emailDomains,
    claimMapping: json(row.claim_mapping),
    groupRoleMapping: json(row.group_role_mapping),
    trustEmail: row.trust_email,
    upstreamMfaCounts: row.upstream_mfa_counts,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** `sealedSecret` replaces the stored secret when given; the clear one is never written. */
function toRow(input: Partial<OidcConnectionInput>, sealedSecret?: string) {
  return {
    ...(input.displayName !== undefined ? { display_name: input.displayName } : {}),
    ...(input.issuer !== undefined ? { issuer: input.issuer } : {}),
    ...(input.clientId !== undefined ? { client_id: input.clientId } : {}),
    ...(sealedSecret !== undefined ? { client_secret: sealedSecret } : {}),
    ...(input.tokenEndpointAuthMethod !== undefined ? { token_endpoint_auth_method: input.tokenEndpointAuthMethod } : {}),
    ...(input.scopes !== undefined ? { scopes: JSON.stringify(input.scopes) } : {}),
    ...(input.claimMapping !== undefined ? { claim_mapping: JSON.stringify(input.claimMapping) } : {}),
    ...(input.groupRoleMapping !== undefined ? { group_role_mapping: JSON.stringify(input.groupRoleMapping) } : {}),
    ...(input.trustEmail !== undefined ? { trust_email: input.trustEmail } : {}),
    ...(input.upstreamMfaCounts !== undefined ? { upstream_mfa_counts: input.upstreamMfaCounts } : {}),
  };
}

async function findDomainsByConnection(db: Db, tenantId: string, names: string[]) {
  const byName = new Map<string, string[]>(names.map((n) => [n, []]));
  if (!names.length) return byName;
  const rows = await db('oidc_connection_domains').where({ tenant_id: tenantId }).whereIn('connection_name', names).orderBy('domain');
  for (const r of rows) byName.get(r.connection_name)?.push(r.domain);
  return byName;
}

export async function findOidcConnection(db: Db, tenantId: string, name: string) {
  const row = await db('oidc_connections').where({ tenant_id: tenantId, name }).first();
  if (!row) return undefined;
  return toOidcConnection(row, (await findDomainsByConnection(db, tenantId, [name])).get(name)!);
}

/** One page of a tenant's connections by name (keyset). */
export async function findOidcConnectionsPage(db: Db, tenantId: string, options: { afterName?: string; limit: number }): Promise<OidcConnection[]> {
  const rows = await findTenantRowsPage(db, 'oidc_connections', tenantId, 'name', { after: options.afterName, limit: options.limit });
  const domains = await findDomainsByConnection(db, tenantId, rows.map((r: any) => r.name));
  return rows.map((r: any) => toOidcConnection(r, domains.get(r.name)!));
}

export async function findOidcConnectionsByDomains(db: Db, tenantId: string, domains: string[]): Promise<{ domain: string; connectionName: string }[]> {
  if (!domains.length) return [];
  const rows = await db('oidc_connection_domains').where({ tenant_id: tenantId }).whereIn('domain', domains).orderBy('domain');
  return rows.map((r: any) => ({ domain: r.domain, connectionName: r.connection_name }));
}

export async function insertOidcConnection(db: Db, tenantId: string, name: string, input: OidcConnectionInput, sealedSecret: string) {
  await db('oidc_connections').insert({ tenant_id: tenantId, name, ...toRow(input, sealedSecret) });
}

export async function updateOidcConnection(db: Db, tenantId: string, name: string, changes: Partial<OidcConnectionInput>, sealedSecret?: string) {
  await db('oidc_connections').where({ tenant_id: tenantId, name }).update({ ...toRow(changes, sealedSecret), updated_at: db.fn.now() });
}

export async function replaceOidcConnectionDomains(db: Db, tenantId: string, name: string, domains: string[]) {
  await db('oidc_connection_domains').where({ tenant_id: tenantId, connection_name: name }).delete();
  if (domains.length) await db('oidc_connection_domains').insert(domains.map((domain) => ({ tenant_id: tenantId, domain, connection_name: name })));
}

/** Its domains go with it (foreign key, on delete cascade). */
export async function deleteOidcConnection(db: Db, tenantId: string, name: string) {
  await db('oidc_connections').where({ tenant_id: tenantId, name }).delete();
}
