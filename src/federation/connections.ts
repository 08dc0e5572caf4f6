import type { Db } from '../db/knex.js';
import { findOidcConnection, findOidcConnectionsByDomains, findOidcConnectionsPage } from '../domain/oidc-connections/oidc-connections.queries.js';
import { findSamlConnection, findSamlConnectionsByDomains, findSamlConnectionsPage } from '../domain/saml-connections/saml-connections.queries.js';
import type { TenantCache } from '../provider/tenant-cache.js';
import type { ConnectionKind, ConnectionSummary } from './federation.types.js';

/** More than this many connections of one kind are not shown as buttons (discovery still finds them). */
const MAX_LISTED = 50;

/** What the login page needs of a tenant's connections; `complete` when no kind was cut at MAX_LISTED. */
export interface ConnectionDirectory {
  listed: readonly ConnectionSummary[];
  complete: boolean;
}

/**
 * A tenant's connections of both kinds, by display name, for the login page: read once per node
 * and kept in the tenant's cache (dropped when a connection changes, tenancy/registry.ts), so a
 * login costs no query for its buttons or its home-realm lookup.
 */
export async function connectionDirectory(db: Db, tenantId: string, cache?: TenantCache): Promise<ConnectionDirectory> {
  const load = async (): Promise<ConnectionDirectory> => {
    const [saml, oidc] = await Promise.all([
      findSamlConnectionsPage(db, tenantId, { limit: MAX_LISTED + 1 }),
      findOidcConnectionsPage(db, tenantId, { limit: MAX_LISTED + 1 }),
    ]);
    const listed = [
      ...saml.slice(0, MAX_LISTED).map((c) => ({ kind: 'saml' as const, name: c.name, displayName: c.displayName, emailDomains: c.emailDomains })),
      ...oidc.slice(0, MAX_LISTED).map((c) => ({ kind: 'oidc' as const, name: c.name, displayName: c.displayName, emailDomains: c.emailDomains })),
    ].sort((a, b) => a.displayName.localeCompare(b.displayName) || a.kind.localeCompare(b.kind));
    return Object.freeze({ listed: Object.freeze(listed), complete: saml.length <= MAX_LISTED && oidc.length <= MAX_LISTED });
  };
  // remember() answers what load() answers, and load() always answers a directory.
  return cache ? (await cache.remember(cache.connections, 'login', load))! : load();
}

/** A tenant's connections of both kinds, by display name, for the login page. */
export async function listConnections(db: Db, tenantId: string, cache?: TenantCache): Promise<readonly ConnectionSummary[]> {
  return (await connectionDirectory(db, tenantId, cache)).listed;
}

/** The domain of an email address, lowercase; undefined when it has none. */
export function emailDomainOf(email: string) {
  const at = email.trim().lastIndexOf('@');
  const domain = at > 0 ? email.trim().slice(at + 1).toLowerCase() : '';
  return /^[a-z0-9.-]{1,253}$/.test(domain) ? domain : undefined;
}

/** Home-realm discovery: the connection an email's domain belongs to, if any. */
export async function findConnectionByEmailDomain(db: Db, tenantId: string, email: string, cache?: TenantCache): Promise<{ kind: ConnectionKind; name: string } | undefined> {
  const domain = emailDomainOf(email);
  if (!domain) return undefined;
  const directory = await connectionDirectory(db, tenantId, cache);
  if (directory.complete) {
    // SAML before OIDC, as below: a domain is claimed by one connection of each kind at most.
    const owner = (kind: ConnectionKind) => directory.listed.find((c) => c.kind === kind && c.emailDomains.some((d) => d.toLowerCase() === domain));
    const found = owner('saml') ?? owner('oidc');
    return found ? { kind: found.kind, name: found.name } : undefined;
  }
  const [saml] = await findSamlConnectionsByDomains(db, tenantId, [domain]);
  if (saml) return { kind: 'saml', name: saml.connectionName };
  const [oidc] = await findOidcConnectionsByDomains(db, tenantId, [domain]);
  return oidc ? { kind: 'oidc', name: oidc.connectionName } : undefined;
}

/**
 * A connection by name (`idp_hint`); with no kind given, a SAML connection is found before an
 * OIDC one of the same name.
 */
export async function findConnectionByName(db: Db, tenantId: string, name: string, kind?: ConnectionKind): Promise<ConnectionSummary | undefined> {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) return undefined;
  if (kind !== 'oidc') {
    const c = await findSamlConnection(db, tenantId, name);
    if (c) return { kind: 'saml', name: c.name, displayName: c.displayName, emailDomains: c.emailDomains };
  }
  if (kind !== 'saml') {
    const c = await findOidcConnection(db, tenantId, name);
    if (c) return { kind: 'oidc', name: c.name, displayName: c.displayName, emailDomains: c.emailDomains };
  }
  return undefined;
}

/** `${issuer}/${kind}/${name}/start?interaction=${uid}`, relative to the host. */
export function startPath(slug: string, connection: { kind: ConnectionKind; name: string }, interactionUid: string, loginHint?: string) {
  const query = new URLSearchParams({ interaction: interactionUid, ...(loginHint ? { login_hint: loginHint } : {}) });
  return `/t/${slug}/${connection.kind}/${connection.name}/start?${query}`;
}
