import { z } from 'zod';
import type { ClientRecord } from './clients/clients.types.js';
import type { SigningKey } from './keys/keys.types.js';
import type { Group } from './groups/groups.types.js';
import type { ApiResource, RoleRecord } from './rbac/rbac.types.js';
import type { UserSession } from './sessions/sessions.types.js';
import { issuerOf, type Tenant } from './tenants/tenants.types.js';
import type { User } from './users/users.types.js';

/**
 * Records as the admin API answers them (DESIGN.md "Admin API"); the CLI's --json prints the same.
 * Each answer has a zod schema here and its presenter returns `z.output` of it, so the OpenAPI
 * document (admin/openapi.ts, built from these schemas) cannot drift from what is answered.
 * `.meta({ id })` names the schema in the document's components.
 */

const timestamp = z.iso.datetime({ offset: true });
const rateLimit = z.object({ limit: z.number().int(), window_seconds: z.number().int() });

export const TenantAnswer = z.object({
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  issuer: z.url(),
  created_at: timestamp,
  access_token_ttl: z.number().int().describe('seconds'),
  id_token_ttl: z.number().int().describe('seconds'),
  refresh_token_ttl: z.number().int().describe('seconds'),
  session_ttl: z.number().int().describe('seconds'),
  lockout: z.object({ max_failed_attempts: z.number().int(), window_seconds: z.number().int(), duration_seconds: z.number().int() }),
  password_policy: z.object({ min_length: z.number().int(), block_common: z.boolean() }),
  mfa_required: z.boolean(),
  max_sessions_per_user: z.number().int().describe('0 = no limit'),
  registration: z.object({ enabled: z.boolean() }),
  require_verified_email: z.boolean(),
  key_rotation_days: z.number().int().describe('Signing keys rotate on this schedule; 0 = only on demand'),
  rate_limits: z.object({ login_per_ip: rateLimit, login_per_account: rateLimit, client_auth_failures: rateLimit, mail_per_address: rateLimit }).describe('limit 0 = off'),
}).meta({
  id: 'Tenant',
  description: 'A tenant and its settings (lifetimes in seconds).',
});

export function presentTenant(t: Tenant, publicUrl: string): z.output<typeof TenantAnswer> {
  return { id: t.id, slug: t.slug, name: t.name, issuer: issuerOf(publicUrl, t.slug), created_at: t.createdAt.toISOString(), ...t.settings };
}

/** Client metadata is open: every name the tenant's provider recognises may appear. */
export const ClientAnswer = z.object({
  client_id: z.string(),
  client_secret: z.string().optional().describe('Only in the answer that created or rotated it'),
  client_name: z.string().optional(),
  redirect_uris: z.array(z.string()).optional(),
  post_logout_redirect_uris: z.array(z.string()).optional(),
  grant_types: z.array(z.string()).optional(),
  response_types: z.array(z.string()).optional(),
  token_endpoint_auth_method: z.string().optional(),
  admin_access: z.boolean().optional().describe('May obtain tokens for the admin API'),
  roles: z.array(z.string()),
  created_at: timestamp,
  updated_at: timestamp,
}).catchall(z.unknown()).meta({ id: 'Client', description: 'OIDC client metadata (RFC 7591 names), its roles; never its secret except once.' });

export function presentClient(c: ClientRecord, roles: string[], secret?: string): z.output<typeof ClientAnswer> {
  return { client_id: c.clientId, ...c.metadata, ...(secret ? { client_secret: secret } : {}), roles, created_at: c.createdAt.toISOString(), updated_at: c.updatedAt.toISOString() };
}

export const ClientSecretAnswer = z.object({ client_id: z.string(), client_secret: z.string() }).meta({ id: 'ClientSecret', description: 'The new secret, shown only in this answer.' });

export const GroupRef = z.object({ id: z.uuid(), name: z.string() }).meta({ id: 'GroupRef' });

export const UserAnswer = z.object({
  id: z.uuid(),
  email: z.string(),
  email_verified: z.boolean(),
  name: z.string().nullable(),
  given_name: z.string().nullable(),
  family_name: z.string().nullable(),
  disabled: z.boolean(),
  roles: z.array(z.string()).describe('Names of the roles assigned to the user directly (not through groups)'),
  groups: z.array(GroupRef).describe('The groups the user is a member of'),
  created_at: timestamp,
  updated_at: timestamp,
}).meta({ id: 'User', description: 'A user (never a password hash), with their direct roles and their groups.' });

/** A user's direct roles and groups, as reading a user answers them. */
export interface UserAccess {
  roles: string[];
  groups: { id: string; name: string }[];
}

export function presentUser(u: User, access: UserAccess): z.output<typeof UserAnswer> {
  return {
    id: u.id, email: u.email, email_verified: u.emailVerified, name: u.name, given_name: u.givenName, family_name: u.familyName,
    disabled: u.disabled, roles: access.roles, groups: access.groups, created_at: u.createdAt.toISOString(), updated_at: u.updatedAt.toISOString(),
  };
}

export const ResourceAnswer = z.object({
  id: z.uuid(),
  identifier: z.string().describe('RFC 8707 resource indicator, the `aud` of its tokens'),
  name: z.string(),
  permissions: z.array(z.object({ name: z.string(), description: z.string().nullable().optional() })),
  created_at: timestamp,
}).meta({ id: 'Resource', description: 'An API resource and the permissions (scopes) it defines.' });

export function presentResource(r: ApiResource): z.output<typeof ResourceAnswer> {
  return { id: r.id, identifier: r.identifier, name: r.name, permissions: r.permissions, created_at: r.createdAt.toISOString() };
}

export const RoleAnswer = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  builtin: z.boolean(),
  permissions: z.array(z.object({ resource: z.string(), permission: z.string() })),
  created_at: timestamp,
}).meta({ id: 'Role', description: 'A role bundling permissions of API resources.' });

export function presentRole(r: RoleRecord): z.output<typeof RoleAnswer> {
  return { id: r.id, name: r.name, description: r.description, builtin: r.builtin, permissions: r.permissions, created_at: r.createdAt.toISOString() };
}

export const GroupAnswer = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  roles: z.array(z.string()),
  member_count: z.number().int(),
  created_at: timestamp,
  updated_at: timestamp,
}).meta({ id: 'Group', description: 'A group (team); its members hold its roles.' });

export function presentGroup(g: Group): z.output<typeof GroupAnswer> {
  return { id: g.id, name: g.name, description: g.description, roles: g.roles, member_count: g.memberCount, created_at: g.createdAt.toISOString(), updated_at: g.updatedAt.toISOString() };
}

export const SessionAnswer = z.object({
  id: z.string().describe('The session\'s uid (never the value of its cookie)'),
  created_at: timestamp,
  last_used_at: timestamp,
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  client_ids: z.array(z.string()),
}).meta({ id: 'Session', description: 'A live login session of a user.' });

/** Never the session's id: that is the value of its cookie. */
export function presentSession(s: UserSession): z.output<typeof SessionAnswer> {
  return { id: s.id, created_at: s.createdAt.toISOString(), last_used_at: s.lastUsedAt.toISOString(), ip: s.ip, user_agent: s.userAgent, client_ids: s.clientIds };
}

const keyFields = {
  kid: z.string(),
  alg: z.enum(['RS256', 'ES256', 'EdDSA']),
  status: z.enum(['current', 'next', 'previous']).describe('current: signs; next: published in JWKS ahead of the rotation that makes it current; previous: signed until a rotation, published until what it signed has expired'),
  public_jwk: z.record(z.string(), z.unknown()).describe('The public JWK (never the private key)'),
  created_at: timestamp.describe('When it was made; for a key made current by a rotation, when it started signing'),
  rotated_at: timestamp.nullable(),
};
export const KeyAnswer = z.object(keyFields).meta({ id: 'Key', description: 'A public signing key of a tenant.' });

/** Public parts only: the private JWK never leaves keys.service. */
export function presentKey(k: SigningKey): z.output<typeof KeyAnswer> {
  return { kid: k.kid, alg: k.alg, status: k.status, public_jwk: k.publicJwk, created_at: k.createdAt.toISOString(), rotated_at: k.rotatedAt?.toISOString() ?? null };
}

export const KeyRotationAnswer = z.object({ ...keyFields, rs256_key: KeyAnswer.optional().describe('On ES256 or EdDSA: the RS256 key made with it for ID Tokens') })
  .meta({ id: 'KeyRotation', description: 'The new current key.' });

/** The key a rotation made; on ES256 or EdDSA also the RS256 key made with it for ID Tokens. */
export function presentRotation(keys: SigningKey[], rotated: { kid: string; rs256Kid?: string }): z.output<typeof KeyRotationAnswer> {
  const companion = keys.find((k) => k.kid === rotated.rs256Kid);
  return { ...presentKey(keys.find((k) => k.kid === rotated.kid)!), ...(companion ? { rs256_key: presentKey(companion) } : {}) };
}

export const RoleNamesAnswer = z.object({ roles: z.array(z.string()) }).meta({ id: 'RoleNames', description: 'Role names, sorted.' });
export const MemberIdsAnswer = z.object({ user_ids: z.array(z.uuid()) }).meta({ id: 'MemberIds', description: 'The user ids of a group\'s members.' });

/** `{items, next_cursor}` of every list (admin/pagination.ts). */
export function listAnswer<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable().describe('Pass as ?cursor= for the next page; null on the last page') });
}
