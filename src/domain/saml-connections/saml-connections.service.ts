import { recordAudit } from '../../audit/record.js';
import type { Trx } from '../../db/knex.js';
import type { Actor, Deps } from '../../deps.js';
import { announceChange } from '../changes.js';
import { findOidcConnectionsByDomains } from '../oidc-connections/oidc-connections.queries.js';
import { resolveRoleNames, UnknownRoleError } from '../rbac/rbac.service.js';
import { lockTenant } from '../tenants/tenants.queries.js';
import type { Tenant } from '../tenants/tenants.types.js';
import { describeIdpMetadata } from './idp-metadata.js';
import {
  deleteSamlConnection, findSamlConnection, findSamlConnectionsByDomains, insertSamlConnection,
  replaceSamlConnectionDomains, updateSamlConnection,
} from './saml-connections.queries.js';
import type { SamlConnectionInput } from './saml-connections.types.js';

export { InvalidIdpMetadataError } from './idp-metadata.js';
export class SamlConnectionExistsError extends Error {}
export class EmailDomainTakenError extends Error {
  constructor(readonly taken: { domain: string; connectionName: string }[]) {
    super(`email domain(s) already routed to another connection: ${taken.map((t) => `${t.domain} (${t.connectionName})`).join(', ')}`);
  }
}
/** A group_role_mapping names roles the tenant does not have. */
export class UnknownMappedRoleError extends Error {
  constructor(readonly roles: string[]) {
    super(`unknown role(s): ${roles.join(', ')}`);
  }
}

/** Admin API field names, for audit details. */
const FIELDS: Record<keyof SamlConnectionInput, string> = {
  displayName: 'display_name', idpMetadataXml: 'idp_metadata_xml', emailDomains: 'email_domains',
  attributeMapping: 'attribute_mapping', groupRoleMapping: 'group_role_mapping', allowIdpInitiated: 'allow_idp_initiated', upstreamMfaCounts: 'upstream_mfa_counts',
};

/** Roles are checked by name when mapped; a role deleted later is skipped at login, not here. */
async function assertRolesExist(trx: Trx, tenantId: string, mapping: Record<string, string[]> | undefined) {
  try {
    await resolveRoleNames(trx, tenantId, Object.values(mapping ?? {}).flat());
  } catch (err) {
    if (err instanceof UnknownRoleError) throw new UnknownMappedRoleError([...err.roles].sort());
    throw err;
  }
}

/**
 * A domain routes the login page to one connection only, SAML and OIDC alike (OIDC connections
 * check SAML's the same way). Checked first to name the conflict; the (tenant_id, domain) key
 * still holds among SAML connections under a race.
 */
async function assertDomainsFree(trx: Trx, tenantId: string, name: string, domains: string[] | undefined) {
  if (!domains?.length) return;
  // SAML and OIDC domains live in two tables: a tenant's connection changes run one after another.
  await lockTenant(trx, tenantId);
  const saml = (await findSamlConnectionsByDomains(trx, tenantId, domains)).filter((t) => t.connectionName !== name);
  const oidc = (await findOidcConnectionsByDomains(trx, tenantId, domains)).map((t) => ({ domain: t.domain, connectionName: `oidc/${t.connectionName}` }));
  if (saml.length || oidc.length) throw new EmailDomainTakenError([...saml, ...oidc]);
}

export async function createSamlConnection(deps: Pick<Deps, 'db'>, tenant: Tenant, name: string, input: SamlConnectionInput, actor: Actor) {
  const idp = await describeIdpMetadata(input.idpMetadataXml); // before the transaction opens
  return deps.db.transaction(async (trx) => {
    if (await findSamlConnection(trx, tenant.id, name)) throw new SamlConnectionExistsError(`SAML connection ${name} already exists`);
    await assertRolesExist(trx, tenant.id, input.groupRoleMapping);
    await assertDomainsFree(trx, tenant.id, name, input.emailDomains);
    await insertSamlConnection(trx, tenant.id, name, input, idp);
    await replaceSamlConnectionDomains(trx, tenant.id, name, input.emailDomains);
    await recordAudit(trx, {
      tenantId: tenant.id, type: 'saml_connection.created', actor: actor.id, subject: `saml-connection:${name}`, ip: actor.ip, userAgent: actor.userAgent,
      // The group mapping is a standing role grant: the trail keeps it like role.assigned does.
      details: { idp_entity_id: idp.entityId, email_domains: input.emailDomains, allow_idp_initiated: input.allowIdpInitiated, group_role_mapping: input.groupRoleMapping ?? {} },
    });
    await announceChange(trx, tenant.id, 'tenant');
    return (await findSamlConnection(trx, tenant.id, name))!;
  });
}

/** Replaces the given fields; undefined when there is no such connection. */
export async function changeSamlConnection(deps: Pick<Deps, 'db'>, tenant: Tenant, name: string, changes: Partial<SamlConnectionInput>, actor: Actor) {
  const idp = changes.idpMetadataXml !== undefined ? await describeIdpMetadata(changes.idpMetadataXml) : undefined;
  return deps.db.transaction(async (trx) => {
    if (!(await findSamlConnection(trx, tenant.id, name))) return undefined;
    await assertRolesExist(trx, tenant.id, changes.groupRoleMapping);
    await assertDomainsFree(trx, tenant.id, name, changes.emailDomains);
    await updateSamlConnection(trx, tenant.id, name, changes, idp);
    if (changes.emailDomains) await replaceSamlConnectionDomains(trx, tenant.id, name, changes.emailDomains);
    const fields = (Object.keys(changes) as (keyof SamlConnectionInput)[]).filter((k) => changes[k] !== undefined).map((k) => FIELDS[k]);
    await recordAudit(trx, {
      tenantId: tenant.id, type: 'saml_connection.updated', actor: actor.id, subject: `saml-connection:${name}`, ip: actor.ip, userAgent: actor.userAgent,
      details: { fields, ...(idp ? { idp_entity_id: idp.entityId } : {}), ...(changes.emailDomains ? { email_domains: changes.emailDomains } : {}), ...(changes.groupRoleMapping ? { group_role_mapping: changes.groupRoleMapping } : {}) },
    });
    await announceChange(trx, tenant.id, 'tenant');
    return (await findSamlConnection(trx, tenant.id, name))!;
  });
}

/** False when there is no such connection (nothing is audited then). */
export async function removeSamlConnection(deps: Pick<Deps, 'db'>, tenant: Tenant, name: string, actor: Actor) {
  return deps.db.transaction(async (trx) => {
    // Looked up first: knex-pglite answers delete() with a result object, pg with a count.
    if (!(await findSamlConnection(trx, tenant.id, name))) return false;
    await deleteSamlConnection(trx, tenant.id, name);
    await recordAudit(trx, { tenantId: tenant.id, type: 'saml_connection.deleted', actor: actor.id, subject: `saml-connection:${name}`, ip: actor.ip, userAgent: actor.userAgent });
    await announceChange(trx, tenant.id, 'tenant');
    return true;
  });
}
