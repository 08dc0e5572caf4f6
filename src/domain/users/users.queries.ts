import type { Db } from '../../db/knex.js';
import { normalizeEmail, type User } from './users.types.js';

export function toUser(row: any): User {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    email: row.email,
    emailVerified: row.email_verified,
    name: row.name,
    givenName: row.given_name,
    familyName: row.family_name,
    disabled: row.disabled,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export async function findUserById(db: Db, tenantId: string, id: string) {
  const row = await db('users').where({ tenant_id: tenantId, id }).first();
  return row ? toUser(row) : undefined;
}

/** With the hash, for password checks only; never presented. */
export async function findUserCredentialsByEmail(db: Db, tenantId: string, email: string) {
  const row = await db('users').where({ tenant_id: tenantId, email_normalized: normalizeEmail(email) }).first();
  return row ? { user: toUser(row), passwordHash: row.password_hash as string | null } : undefined;
}

export async function insertUser(db: Db, tenantId: string, user: { id: string; email: string; passwordHash: string | null; name?: string | null; givenName?: string | null; familyName?: string | null; emailVerified?: boolean }) {
  const [row] = await db('users')
    .insert({
      tenant_id: tenantId,
      id: user.id,
      email: user.email.trim(),
      email_normalized: normalizeEmail(user.email),
      password_hash: user.passwordHash,
      name: user.name ?? null,
      given_name: user.givenName ?? null,
      family_name: user.familyName ?? null,
      email_verified: user.emailVerified ?? false,
    })
    .returning('*');
  return toUser(row);
}
