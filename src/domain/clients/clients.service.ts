import { randomBytes } from 'node:crypto';
import { recordAudit } from '../../audit/record.js';
import { isUniqueViolation, lockTenantRow, type Db, type Trx } from '../../db/knex.js';
import type { Actor, Deps } from '../../deps.js';
import { generateClientSecret } from '../../security/secrets.js';
import { announceChange } from '../changes.js';
import { replaceRoleAssignments } from '../rbac/rbac.queries.js';
import { resolveRoleNames } from '../rbac/rbac.service.js';
import type { Tenant } from '../tenants/tenants.types.js';
import { isBuiltinClientId } from './builtin-clients.js';
import { deleteClient, findClient, insertClient, updateClient } from './clients.queries.js';
import { CONFIDENTIAL_ONLY_GRANTS, PUBLIC_AUTH_METHODS, type ClientRecord } from './clients.types.js';

export class ClientExistsError extends Error {}
export class UnknownClientError extends Error {}
/** Metadata refused by Gatehouse's own rules; `field` names the metadata at fault. */
export class ClientMetadataRefusedError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}
export { UnknownRoleError } from '../rbac/rbac.service.js';

/** Checks metadata the way the tenant's provider would load it; supplied by tenancy/. */
export type ClientValidator = (tenant: Tenant, metadata: Record<string, unknown>) => Promise<void>;

export function needsSecret(metadata: Record<string, unknown>) {
  return !PUBLIC_AUTH_METHODS.has(String(metadata.token_endpoint_auth_method ?? 'client_secret_basic'));
}

/** Rules of Gatehouse's own that oidc-provider does not check, on the metadata as it will be stored. */
function checkClientRules(metadata: Record<string, unknown>) {
  if (metadata.token_endpoint_auth_method !== 'none') return;
  const grantTypes = Array.isArray(metadata.grant_types) ? (metadata.grant_types as unknown[]) : [];
  const refused = grantTypes.filter((g) => CONFIDENTIAL_ONLY_GRANTS.has(g as string));
  if (refused.length) throw new ClientMetadataRefusedError('grant_types', `${refused.join(', ')} is for confidential clients only; this client authenticates with token_endpoint_auth_method none`);
}

/** Fills the defaults oidc-provider would assume, so what is stored is what is served. */
export function withClientDefaults(metadata: Record<string, unknown>): Record<string, unknown> {
  const grantTypes = (metadata.grant_types as string[] | undefined) ?? ['authorization_code', 'refresh_token'];
  const interactive = grantTypes.includes('authorization_code') || grantTypes.includes('implicit');
  return {
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [],
    ...metadata,
    grant_types: grantTypes,
    response_types: (metadata.response_types as string[] | undefined) ?? (interactive ? ['code'] : []),
  };
}

/**
 * 128 random bits in base64url, never starting with '-' or '_': an id that starts with '-' reads
 * as an option to a command line (`gatehouse client show`, curl, a shell script).
 */
export function newClientId() {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}

export async function registerClient(
  deps: Pick<Deps, 'db' | 'secrets'>,
  tenant: Tenant,
  input: { clientId?: string; metadata: Record<string, unknown>; roles?: string[] },
  actor: Actor,
  validate: ClientValidator,
): Promise<{ client: ClientRecord; secret?: string; roles: string[] }> {
  const clientId = input.clientId ?? newClientId();
  if (isBuiltinClientId(clientId)) throw new ClientExistsError(`client ${clientId} is built in`);
  const metadata = withClientDefaults(input.metadata);
  checkClientRules(metadata);
  await validate(tenant, { ...metadata, client_id: clientId, client_secret: needsSecret(metadata) ? 'validation-placeholder' : undefined });
  const secret = needsSecret(metadata) ? generateClientSecret() : undefined;
  try {
    return await deps.db.transaction(async (trx) => {
      const client = await insertClient(trx, tenant.id, clientId, metadata, secret ? deps.secrets.hashClientSecret(secret) : null);
      await announceChange(trx, tenant.id, 'clients');
      const roles = input.roles?.length ? await assignClientRoles(trx, tenant, clientId, input.roles, actor) : [];
      await recordAudit(trx, { tenantId: tenant.id, type: 'client.created', actor: actor.id, subject: `client:${clientId}`, ip: actor.ip, userAgent: actor.userAgent, details: { client_name: metadata.client_name ?? null, grant_types: metadata.grant_types } });
      return { client, secret, roles };
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new ClientExistsError(`client ${clientId} already exists`);
    throw err;
  }
}

/** Registers a client with a caller-chosen secret (bootstrap from the environment). */
export async function registerClientWithSecret(deps: Pick<Deps, 'db' | 'secrets'>, trx: Trx | Db, tenant: Tenant, clientId: string, secret: string, metadata: Record<string, unknown>, roles: string[], actor: Actor) {
  if (isBuiltinClientId(clientId)) throw new ClientExistsError(`client ${clientId} is built in`);
  const client = await insertClient(trx as Db, tenant.id, clientId, withClientDefaults(metadata), deps.secrets.hashClientSecret(secret));
  await announceChange(trx, tenant.id, 'clients');
  await assignClientRoles(trx, tenant, clientId, roles, actor);
  await recordAudit(trx, { tenantId: tenant.id, type: 'client.created', actor: actor.id, subject: `client:${clientId}`, ip: actor.ip, userAgent: actor.userAgent, details: { client_name: metadata.client_name ?? null } });
  return client;
}

export async function assignClientRoles(trx: Trx | Db, tenant: Tenant, clientId: string, names: string[], actor: Actor) {
  await lockTenantRow(trx, 'clients', tenant.id, { client_id: clientId });
  const { names: unique, ids } = await resolveRoleNames(trx, tenant.id, names);
  await replaceRoleAssignments(trx as Db, 'client_roles', tenant.id, { client_id: clientId }, ids);
  await announceChange(trx, tenant.id, 'rbac');
  await recordAudit(trx, { tenantId: tenant.id, type: 'role.assigned', actor: actor.id, subject: `client:${clientId}`, ip: actor.ip, userAgent: actor.userAgent, details: { roles: unique } });
  return unique;
}

export async function rotateClientSecret(deps: Pick<Deps, 'db' | 'secrets'>, tenant: Tenant, clientId: string, actor: Actor) {
  return deps.db.transaction(async (trx) => {
    const secret = generateClientSecret();
    const updated = await updateClient(trx, tenant.id, clientId, { secretHash: deps.secrets.hashClientSecret(secret) });
    if (!updated) throw new UnknownClientError(`client ${clientId} does not exist`);
    await announceChange(trx, tenant.id, 'clients');
    await recordAudit(trx, { tenantId: tenant.id, type: 'client.secret_rotated', actor: actor.id, subject: `client:${clientId}`, ip: actor.ip, userAgent: actor.userAgent });
    return secret;
  });
}

/**
 * Sets a caller-chosen secret (the bootstrap client's from the environment) when the stored hash
 * is of another one; true when it changed. Compared by keyed hash, so the secret is never stored.
 */
export async function setClientSecret(deps: Pick<Deps, 'db' | 'secrets'>, tenant: Tenant, clientId: string, secret: string, actor: Actor, details: Record<string, unknown>) {
  return deps.db.transaction(async (trx) => {
    if (!(await lockTenantRow(trx, 'clients', tenant.id, { client_id: clientId }))) throw new UnknownClientError(`client ${clientId} does not exist`);
    const client = await findClient(trx, tenant.id, clientId);
    if (client?.secretHash && deps.secrets.verifyClientSecret(secret, client.secretHash)) return false;
    await updateClient(trx, tenant.id, clientId, { secretHash: deps.secrets.hashClientSecret(secret) });
    await announceChange(trx, tenant.id, 'clients');
    await recordAudit(trx, { tenantId: tenant.id, type: 'client.secret_rotated', actor: actor.id, subject: `client:${clientId}`, ip: actor.ip, userAgent: actor.userAgent, details });
    return true;
  });
}

/**
 * Merges metadata (top-level names replaced) and re-checks it as the provider will load it.
 * `within` runs in the change's transaction, after it: what the answer shows beside the change is
 * read before the commit, so a read failing then fails the request with nothing changed, never
 * after a change the caller is told failed.
 */
export async function changeClientMetadata(deps: Pick<Deps, 'db'>, tenant: Tenant, client: ClientRecord, changes: Record<string, unknown>, actor: Actor, validate: ClientValidator, within?: (trx: Trx, client: ClientRecord) => Promise<void>) {
  const metadata = withClientDefaults({ ...client.metadata, ...changes });
  checkClientRules(metadata);
  await validate(tenant, { ...metadata, client_id: client.clientId, client_secret: needsSecret(metadata) ? 'validation-placeholder' : undefined });
  return deps.db.transaction(async (trx) => {
    const updated = await updateClient(trx, tenant.id, client.clientId, { metadata });
    await announceChange(trx, tenant.id, 'clients');
    await recordAudit(trx, { tenantId: tenant.id, type: 'client.updated', actor: actor.id, subject: `client:${client.clientId}`, ip: actor.ip, userAgent: actor.userAgent, details: { fields: Object.keys(changes) } });
    await within?.(trx, updated!);
    return updated!;
  });
}

export async function removeClient(deps: Pick<Deps, 'db'>, tenant: Tenant, clientId: string, actor: Actor) {
  return deps.db.transaction(async (trx) => {
    // Looked up first: knex-pglite answers delete() with a result object, pg with a count.
    if (!(await findClient(trx, tenant.id, clientId))) return false;
    await deleteClient(trx, tenant.id, clientId);
    await announceChange(trx, tenant.id, 'clients');
    await recordAudit(trx, { tenantId: tenant.id, type: 'client.deleted', actor: actor.id, subject: `client:${clientId}`, ip: actor.ip, userAgent: actor.userAgent });
    return true;
  });
}

/** Replaces a client's roles in a transaction of its own. */
export async function setClientRoles(deps: Pick<Deps, 'db'>, tenant: Tenant, clientId: string, names: string[], actor: Actor) {
  return deps.db.transaction((trx) => assignClientRoles(trx, tenant, clientId, names, actor));
}
