import { recordAudit } from '../../audit/record.js';
import type { Trx } from '../../db/knex.js';
import type { Actor, Deps } from '../../deps.js';
import { announceChange } from '../changes.js';
import { resolveRoleNames, UnknownRoleError } from '../rbac/rbac.service.js';
import { findSamlConnectionsByDomains } from '../saml-connections/saml-connections.queries.js';
import { lockTenant } from '../tenants/tenants.queries.js';
import type { Tenant } from '../tenants/tenants.types.js';
import {
  deleteOidcConnection, findOidcConnection, findOidcConnectionsByDomains, insertOidcConnection,
  replaceOidcConnectionDomains, updateOidcConnection,
} from './oidc-connections.queries.js';
import { clientSecretAad, type OidcConnectionInput } from './oidc-connections.types.js';
import { assertSealingKeyCurrent } from '../keys/master-key-check.js';

export class OidcConnectionExistsError extends Error {}
/** An email domain already sends its users to another connection (of either kind). */
export class OidcEmailDomainTakenError extends Error {
  constructor(readonly taken: { domain: string; connection: string }[]) {
    super(`email domain(s) already routed to another connection: ${taken.map((t) => `${t.domain} (${t.connection})`).join(', ')}`);
  }
}
export class UnknownOidcMappedRoleError extends Error {
  constructor(readonly roles: string[]) {
    super(`unknown role(s): ${roles.join(', ')}`);
  }
}

/** Admin API field names, for audit details (the secret is named as changed, never shown). */
const FIELDS: Record<keyof OidcConnectionInput, string> = {
  displayName: 'display_name', issuer: 'issuer', clientId: 'client_id', clientSecret: 'client_secret',
  tokenEndpointAuthMethod: 'token_endpoint_auth_method', scopes: 'scopes', emailDomains: 'email_domains',
  claimMapping: 'claim_mapping', groupRoleMapping: 'group_role_mapping', trustEmail: 'trust_email', upstreamMfaCounts: 'upstream_mfa_counts',
};

async function assertRolesExist(trx: Trx, tenantId: string, mapping: Record<string, string[]> | undefined) {
  try {
    await resolveRoleNames(trx, tenantId, Object.values(mapping ?? {}).flat());
  } catch (err) {
    if (err instanceof UnknownRoleError) throw new UnknownOidcMappedRoleError([...err.roles].sort());
    throw err;
  }
}

/** A domain routes the login page to one connection only, SAML and OIDC alike. */
async function assertDomainsFree(trx: Trx, tenantId: string, name: string, domains: string[] | undefined) {
  if (!domains?.length) return;
  // SAML and OIDC domains live in two tables: a tenant's connection changes run one after another.
  await lockTenant(trx, tenantId);
  const saml = (await findSamlConnectionsByDomains(trx, tenantId, domains)).map((t) => ({ domain: t.domain, connection: `saml/${t.connectionName}` }));
  const oidc = (await findOidcConnectionsByDomains(trx, tenantId, domains)).filter((t) => t.connectionName !== name).map((t) => ({ domain: t.domain, connection: `oidc/${t.connectionName}` }));
  if (saml.length || oidc.length) throw new OidcEmailDomainTakenError([...saml, ...oidc]);
}

export async function createOidcConnection(deps: Pick<Deps, 'db' | 'secrets'>, tenant: Tenant, name: string, input: OidcConnectionInput, actor: Actor) {
  const sealed = deps.secrets.encrypt(input.clientSecret, clientSecretAad(tenant.id, name));
  return deps.db.transaction(async (trx) => {
    if (await findOidcConnection(trx, tenant.id, name)) throw new OidcConnectionExistsError(`OIDC connection ${name} already exists`);
    await assertSealingKeyCurrent(trx, deps.secrets);
    await assertRolesExist(trx, tenant.id, input.groupRoleMapping);
    await assertDomainsFree(trx, tenant.id, name, input.emailDomains);
    await insertOidcConnection(trx, tenant.id, name, input, sealed);
    await replaceOidcConnectionDomains(trx, tenant.id, name, input.emailDomains);
    await recordAudit(trx, {
      tenantId: tenant.id, type: 'oidc_connection.created', actor: actor.id, subject: `oidc-connection:${name}`, ip: actor.ip, userAgent: actor.userAgent,
      details: {
        issuer: input.issuer, client_id: input.clientId, email_domains: input.emailDomains, trust_email: input.trustEmail,
        upstream_mfa_counts: input.upstreamMfaCounts, group_role_mapping: input.groupRoleMapping,
      },
    });
    await announceChange(trx, tenant.id, 'tenant');
    return (await findOidcConnection(trx, tenant.id, name))!;
  });
}

/** Replaces the given fields; undefined when there is no such connection. */
export async function changeOidcConnection(deps: Pick<Deps, 'db' | 'secrets'>, tenant: Tenant, name: string, changes: Partial<OidcConnectionInput>, actor: Actor) {
  const sealed = changes.clientSecret !== undefined ? deps.secrets.encrypt(changes.clientSecret, clientSecretAad(tenant.id, name)) : undefined;
  return deps.db.transaction(async (trx) => {
    if (!(await findOidcConnection(trx, tenant.id, name))) return undefined;
    if (sealed !== undefined) await assertSealingKeyCurrent(trx, deps.secrets);
    await assertRolesExist(trx, tenant.id, changes.groupRoleMapping);
    await assertDomainsFree(trx, tenant.id, name, changes.emailDomains);
    await updateOidcConnection(trx, tenant.id, name, changes, sealed);
    if (changes.emailDomains) await replaceOidcConnectionDomains(trx, tenant.id, name, changes.emailDomains);
    const fields = (Object.keys(changes) as (keyof OidcConnectionInput)[]).filter((k) => changes[k] !== undefined).map((k) => FIELDS[k]);
    await recordAudit(trx, {
      tenantId: tenant.id, type: 'oidc_connection.updated', actor: actor.id, subject: `oidc-connection:${name}`, ip: actor.ip, userAgent: actor.userAgent,
      details: {
        fields,
        ...(changes.issuer ? { issuer: changes.issuer } : {}),
        ...(changes.emailDomains ? { email_domains: changes.emailDomains } : {}),
        ...(changes.groupRoleMapping ? { group_role_mapping: changes.groupRoleMapping } : {}),
        ...(changes.trustEmail !== undefined ? { trust_email: changes.trustEmail } : {}),
        ...(changes.upstreamMfaCounts !== undefined ? { upstream_mfa_counts: changes.upstreamMfaCounts } : {}),
      },
    });
    await announceChange(trx, tenant.id, 'tenant');
    return (await findOidcConnection(trx, tenant.id, name))!;
  });
}

/** False when there is no such connection (nothing is audited then). */
export async function removeOidcConnection(deps: Pick<Deps, 'db'>, tenant: Tenant, name: string, actor: Actor) {
  return deps.db.transaction(async (trx) => {
    if (!(await findOidcConnection(trx, tenant.id, name))) return false;
    await deleteOidcConnection(trx, tenant.id, name);
    await recordAudit(trx, { tenantId: tenant.id, type: 'oidc_connection.deleted', actor: actor.id, subject: `oidc-connection:${name}`, ip: actor.ip, userAgent: actor.userAgent });
    await announceChange(trx, tenant.id, 'tenant');
    return true;
  });
}
