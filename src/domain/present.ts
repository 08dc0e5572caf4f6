import type { ClientRecord } from './clients/clients.types.js';
import type { SigningKey } from './keys/keys.types.js';
import type { Group } from './groups/groups.types.js';
import type { ApiResource, RoleRecord } from './rbac/rbac.types.js';
import type { UserSession } from './sessions/sessions.types.js';
import { issuerOf, type Tenant } from './tenants/tenants.types.js';
import type { User } from './users/users.types.js';

/** Records as the admin API answers them (DESIGN.md "Admin API"); the CLI's --json prints the same. */
export function presentTenant(t: Tenant, publicUrl: string) {
  return { id: t.id, slug: t.slug, name: t.name, issuer: issuerOf(publicUrl, t.slug), created_at: t.createdAt.toISOString(), ...t.settings };
}

export function presentClient(c: ClientRecord, roles: string[], secret?: string) {
  return { client_id: c.clientId, ...c.metadata, ...(secret ? { client_secret: secret } : {}), roles, created_at: c.createdAt.toISOString(), updated_at: c.updatedAt.toISOString() };
}

export function presentUser(u: User) {
  return {
    id: u.id, email: u.email, email_verified: u.emailVerified, name: u.name, given_name: u.givenName, family_name: u.familyName,
    disabled: u.disabled, created_at: u.createdAt.toISOString(), updated_at: u.updatedAt.toISOString(),
  };
}

export function presentResource(r: ApiResource) {
  return { id: r.id, identifier: r.identifier, name: r.name, permissions: r.permissions, created_at: r.createdAt.toISOString() };
}

export function presentRole(r: RoleRecord) {
  return { id: r.id, name: r.name, description: r.description, builtin: r.builtin, permissions: r.permissions, created_at: r.createdAt.toISOString() };
}

export function presentGroup(g: Group) {
  return { id: g.id, name: g.name, description: g.description, roles: g.roles, member_count: g.memberCount, created_at: g.createdAt.toISOString(), updated_at: g.updatedAt.toISOString() };
}

/** Never the session's id: that is the value of its cookie. */
export function presentSession(s: UserSession) {
  return { id: s.id, created_at: s.createdAt.toISOString(), last_used_at: s.lastUsedAt.toISOString(), ip: s.ip, user_agent: s.userAgent, client_ids: s.clientIds };
}

/** Public parts only: the private JWK never leaves keys.service. */
export function presentKey(k: SigningKey) {
  return { kid: k.kid, alg: k.alg, status: k.status, public_jwk: k.publicJwk, created_at: k.createdAt.toISOString(), rotated_at: k.rotatedAt?.toISOString() ?? null };
}

/** The key a rotation made; on ES256 or EdDSA also the RS256 key made with it for ID Tokens. */
export function presentRotation(keys: SigningKey[], rotated: { kid: string; rs256Kid?: string }) {
  const companion = keys.find((k) => k.kid === rotated.rs256Kid);
  return { ...presentKey(keys.find((k) => k.kid === rotated.kid)!), ...(companion ? { rs256_key: presentKey(companion) } : {}) };
}
