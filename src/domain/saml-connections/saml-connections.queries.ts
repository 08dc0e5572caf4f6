import { findTenantRowsPage } from '../../db/keyset.js';
import type { Db } from '../../db/knex.js';
import type { SamlConnection, SamlConnectionInput, IdpDescription } from './saml-connections.types.js';

const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);

function toSamlConnection(row: any, emailDomains: string[]): SamlConnection {
  return {
    tenantId: row.tenant_id,
    name: row.name,
    displayName: row.display_name,
    idpMetadataXml: row.idp_metadata_xml,
    entityId: row.idp_entity_id,
    ssoRedirectUrl: row.idp_sso_redirect_url,
    ssoPostUrl: row.idp_sso_post_url,
    signingCertificates: json(row.idp_signing_certificates),
    emailDomains,
    attributeMapping: json(row.attribute_mapping),
    groupRoleMapping: json(row.group_role_mapping),
    allowIdpInitiated: row.allow_idp_initiated,
    upstreamMfaCounts: Boolean(row.upstream_mfa_counts),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function toRow(input: Partial<SamlConnectionInput>, idp?: IdpDescription) {
  return {
    ...(input.displayName !== undefined ? { display_name: input.displayName } : {}),
    ...(input.idpMetadataXml !== undefined ? { idp_metadata_xml: input.idpMetadataXml } : {}),
    ...(idp ? {
      idp_entity_id: idp.entityId,
      idp_sso_redirect_url: idp.ssoRedirectUrl,
      idp_sso_post_url: idp.ssoPostUrl,
      idp_signing_certificates: JSON.stringify(idp.signingCertificates),
    } : {}),
    ...(input.attributeMapping !== undefined ? { attribute_mapping: JSON.stringify(input.attributeMapping) } : {}),
    ...(input.groupRoleMapping !== undefined ? { group_role_mapping: JSON.stringify(input.groupRoleMapping) } : {}),
    ...(input.allowIdpInitiated !== undefined ? { allow_idp_initiated: input.allowIdpInitiated } : {}),
    ...(input.upstreamMfaCounts !== undefined ? { upstream_mfa_counts: input.upstreamMfaCounts } : {}),
  };
}

/** Email domains of the named connections, sorted, by connection name. */
async function findDomainsByConnection(db: Db, tenantId: string, names: string[]) {
  const byName = new Map<string, string[]>(names.map((n) => [n, []]));
  if (!names.length) return byName;
  const rows = await db('saml_connection_domains').where({ tenant_id: tenantId }).whereIn('connection_name', names).orderBy('domain');
  for (const r of rows) byName.get(r.connection_name)?.push(r.domain);
  return byName;
}

export async function findSamlConnection(db: Db, tenantId: string, name: string) {
  const row = await db('saml_connections').where({ tenant_id: tenantId, name }).first();
  if (!row) return undefined;
  return toSamlConnection(row, (await findDomainsByConnection(db, tenantId, [name])).get(name)!);
}

/** One page of a tenant's connections by name (keyset). */
export async function findSamlConnectionsPage(db: Db, tenantId: string, options: { afterName?: string; limit: number }): Promise<SamlConnection[]> {
  const rows = await findTenantRowsPage(db, 'saml_connections', tenantId, 'name', { after: options.afterName, limit: options.limit });
  const domains = await findDomainsByConnection(db, tenantId, rows.map((r: any) => r.name));
  return rows.map((r: any) => toSamlConnection(r, domains.get(r.name)!));
}

/** Which connection each of `domains` already routes to (for the login page, and to name a conflict). */
export async function findSamlConnectionsByDomains(db: Db, tenantId: string, domains: string[]): Promise<{ domain: string; connectionName: string }[]> {
  if (!domains.length) return [];
  const rows = await db('saml_connection_domains').where({ tenant_id: tenantId }).whereIn('domain', domains).orderBy('domain');
  return rows.map((r: any) => ({ domain: r.domain, connectionName: r.connection_name }));
}

export async function insertSamlConnection(db: Db, tenantId: string, name: string, input: SamlConnectionInput, idp: IdpDescription) {
  await db('saml_connections').insert({ tenant_id: tenantId, name, ...toRow(input, idp) });
}

export async function updateSamlConnection(db: Db, tenantId: string, name: string, changes: Partial<SamlConnectionInput>, idp?: IdpDescription) {
  await db('saml_connections').where({ tenant_id: tenantId, name }).update({ ...toRow(changes, idp), updated_at: db.fn.now() });
}

/** Replaces a connection's email domains; the (tenant_id, domain) key refuses one taken elsewhere. */
export async function replaceSamlConnectionDomains(db: Db, tenantId: string, name: string, domains: string[]) {
  await db('saml_connection_domains').where({ tenant_id: tenantId, connection_name: name }).delete();
  if (domains.length) await db('saml_connection_domains').insert(domains.map((domain) => ({ tenant_id: tenantId, domain, connection_name: name })));
}

/** Its domains go with it (foreign key, on delete cascade). */
export async function deleteSamlConnection(db: Db, tenantId: string, name: string) {
  await db('saml_connections').where({ tenant_id: tenantId, name }).delete();
}

/**
 * The connection's own SP key (sealed) and certificate; kept apart from SamlConnection so that
 * nothing that presents a connection ever holds the key. Undefined when there is no connection.
 */
export async function findSamlSpKey(db: Db, tenantId: string, name: string): Promise<{ sealed: string | null; certificate: string | null } | undefined> {
  const row = await db('saml_connections').where({ tenant_id: tenantId, name }).first('sp_signing_key_sealed', 'sp_signing_certificate');
  return row ? { sealed: row.sp_signing_key_sealed, certificate: row.sp_signing_certificate } : undefined;
}

/** Stores a key only where none is yet (first writer wins across nodes); true when this one was stored. */
export async function updateSamlSpKeyIfAbsent(db: Db, tenantId: string, name: string, sealed: string, certificate: string) {
  const rows = await db('saml_connections').where({ tenant_id: tenantId, name }).whereNull('sp_signing_key_sealed')
    .update({ sp_signing_key_sealed: sealed, sp_signing_certificate: certificate }, ['name']);
  return Array.isArray(rows) && rows.length === 1;
}
