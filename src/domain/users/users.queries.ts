import { hotQuery } from '../../db/hot-query.js';
import { canNameRow, type Db } from '../../db/knex.js';
import { ENDED_MODEL_NAMES, endSessionsAndGrants } from '../../provider/adapters/postgres.js';
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

// Both lookups run on every login (hotQuery: db/hot-query.ts).
export async function findUserById(db: Db, tenantId: string, id: string) {
  const { rows: [row] } = await hotQuery(db, 'select * from users where tenant_id = ? and id = ? limit 1', [tenantId, id]);
  return row ? toUser(row) : undefined;
}

/**
 * With the hash, for password checks only; never presented. Also whether the user has a
 * confirmed second factor (the step after a correct password): one statement where two would be
 * a second round trip per login. Read before the hash is compared: a factor confirmed during the
 * compare applies from the next login, as one confirmed a moment later would.
 */
export async function findUserCredentialsByEmail(db: Db, tenantId: string, email: string) {
  if (!canNameRow(email)) return undefined;
  const { rows: [row] } = await hotQuery(db, `select u.*, exists (
      select 1 from user_mfa_factors f where f.tenant_id = u.tenant_id and f.user_id = u.id and f.type = 'totp' and f.confirmed_at is not null
    ) as has_second_factor
    from users u where u.tenant_id = ? and u.email_normalized = ? limit 1`, [tenantId, normalizeEmail(email)]);
  return row ? { user: toUser(row), passwordHash: row.password_hash as string | null, hasSecondFactor: Boolean(row.has_second_factor) } : undefined;
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

/** One page of a tenant's users by normalized email (keyset); `search` is an email or name prefix. */
export async function findUsersPage(db: Db, tenantId: string, options: { search?: string; afterEmail?: string; limit: number }): Promise<{ user: User; key: string }[]> {
  const prefix = options.search ? `${options.search.trim().toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined;
  const rows = await db('users')
    .where({ tenant_id: tenantId })
    .modify((q) => {
      if (prefix) q.where((w) => w.where('email_normalized', 'like', prefix).orWhereRaw('lower(name) like ?', [prefix]));
      if (options.afterEmail !== undefined) q.where('email_normalized', '>', options.afterEmail);
    })
    .orderBy('email_normalized')
    .limit(options.limit);
  return rows.map((row: any) => ({ user: toUser(row), key: row.email_normalized as string }));
}

export async function updateUser(db: Db, tenantId: string, id: string, changes: { email?: string; name?: string | null; givenName?: string | null; familyName?: string | null; emailVerified?: boolean; disabled?: boolean; passwordHash?: string }) {
  const set: Record<string, unknown> = {};
  if (changes.email !== undefined) Object.assign(set, { email: changes.email.trim(), email_normalized: normalizeEmail(changes.email) });
  if (changes.name !== undefined) set.name = changes.name;
  if (changes.givenName !== undefined) set.given_name = changes.givenName;
  if (changes.familyName !== undefined) set.family_name = changes.familyName;
  if (changes.emailVerified !== undefined) set.email_verified = changes.emailVerified;
  if (changes.disabled !== undefined) set.disabled = changes.disabled;
  if (changes.passwordHash !== undefined) set.password_hash = changes.passwordHash;
  const [row] = await db('users').where({ tenant_id: tenantId, id }).update({ ...set, updated_at: db.fn.now() }).returning('*');
  return row ? toUser(row) : undefined;
}

/**
 * Sets a new hash of the same password, only while the stored one is still `current`: a password
 * changed meanwhile is kept. Not a change of the user (`updated_at` stays).
 */
export async function replacePasswordHash(db: Db, tenantId: string, id: string, current: string, next: string): Promise<boolean> {
  const rows = await db('users').where({ tenant_id: tenantId, id, password_hash: current }).update({ password_hash: next }).returning('id');
  return rows.length > 0;
}

/** True when a user was deleted (returning rows: knex-pglite and pg disagree on delete()'s count). */
export async function deleteUser(db: Db, tenantId: string, id: string) {
  const rows = await db('users').where({ tenant_id: tenantId, id }).delete().returning('id');
  return rows.length > 0;
}

/**
 * Everything the provider stored for an account (provider/adapters/postgres.ts): tokens and codes
 * deleted, sessions and grants ended (kept a while as tombstones, so a request in flight cannot
 * write them back). Returns how many went.
 */
export async function deleteOidcPayloadsOfAccount(db: Db, tenantId: string, accountId: string) {
  const ended = await endSessionsAndGrants(db, tenantId, (q) => q.where({ account_id: accountId }));
  const rows = await db('oidc_payloads').where({ tenant_id: tenantId, account_id: accountId }).whereNotIn('model', ENDED_MODEL_NAMES).delete().returning('id');
  return ended + rows.length;
}
