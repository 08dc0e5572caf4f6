import type { ClientRecord } from './clients/clients.types.js';
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
