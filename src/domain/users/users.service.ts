import { randomUUID } from 'node:crypto';
import { recordAudit } from '../../audit/record.js';
import { isUniqueViolation, lockTenantRow, type Db, type Trx } from '../../db/knex.js';
import type { Actor, Deps } from '../../deps.js';
import { log } from '../../log/logger.js';
import { bcryptCost, checkPasswordPolicy } from '../../security/passwords.js';
import { announceChange } from '../changes.js';
import { replaceRoleAssignments } from '../rbac/rbac.queries.js';
import { resolveRoleNames } from '../rbac/rbac.service.js';
import { findSessionsOfUser } from '../sessions/sessions.queries.js';
import type { SessionsEnded, UserSession } from '../sessions/sessions.types.js';
import type { Tenant } from '../tenants/tenants.types.js';
import { deleteOidcPayloadsOfAccount, deleteUser, findUserCredentialsByEmail, insertUser, replacePasswordHash, updateUser } from './users.queries.js';
import { normalizeEmail, type NewUser, type User } from './users.types.js';

export class UserExistsError extends Error {}
export class PasswordPolicyError extends Error {}

/** `within`: as in changeUser, read in the creating transaction. */
export async function createUser(deps: Pick<Deps, 'db' | 'passwords'>, tenant: Tenant, input: NewUser, actor: Actor, trx?: Trx, within?: (trx: Trx, user: User) => Promise<void>): Promise<User> {
  if (input.password !== undefined) {
    const problem = checkPasswordPolicy(input.password, tenant.settings.password_policy);
    if (problem) throw new PasswordPolicyError(`password ${problem}`);
  }
  const passwordHash = input.password !== undefined ? await deps.passwords.hash(input.password) : null;
  const work = async (t: Trx) => {
    const user = await insertUser(t, tenant.id, { id: randomUUID(), ...input, passwordHash });
    await recordAudit(t, { tenantId: tenant.id, type: 'user.created', actor: actor.id, subject: `user:${user.id}`, ip: actor.ip, userAgent: actor.userAgent });
    await announceChange(t, tenant.id, 'users');
    if (input.roles?.length) await assignUserRoles(t, tenant, user.id, input.roles, actor);
    await within?.(t, user);
    return user;
  };
  try {
    return trx ? await work(trx) : await deps.db.transaction(work);
  } catch (err) {
    if (isUniqueViolation(err)) throw new UserExistsError('a user with this email already exists');
    throw err;
  }
}

export async function assignUserRoles(trx: Trx | Db, tenant: Tenant, userId: string, names: string[], actor: Actor) {
  await lockTenantRow(trx, 'users', tenant.id, { id: userId });
  const roles = await resolveRoleNames(trx, tenant.id, names);
  await replaceRoleAssignments(trx, 'user_roles', tenant.id, { user_id: userId }, roles.ids);
  await recordAudit(trx, { tenantId: tenant.id, type: 'role.assigned', actor: actor.id, subject: `user:${userId}`, ip: actor.ip, userAgent: actor.userAgent, details: { roles: roles.names } });
  // A user's roles feed only per-user cache entries: 'users' drops those, and nothing else.
  await announceChange(trx, tenant.id, 'users');
  return roles.names;
}

/** `hasSecondFactor`: whether the user has a confirmed second factor, read with the password hash. */
export type AuthResult = { ok: true; user: User; hasSecondFactor: boolean; storedHash: string } | { ok: false; reason: 'unknown_user' | 'bad_password' | 'disabled' | 'no_password'; user?: User };

/** Always runs one bcrypt compare, so an unknown email costs what a wrong password costs. */
export async function verifyPassword(deps: Pick<Deps, 'db' | 'passwords'>, tenant: Tenant, email: string, password: string): Promise<AuthResult> {
  const found = email ? await findUserCredentialsByEmail(deps.db, tenant.id, email) : undefined;
  const matches = await deps.passwords.verify(password, found?.passwordHash);
  if (!found) return { ok: false, reason: 'unknown_user' };
  if (!found.passwordHash) return { ok: false, reason: 'no_password', user: found.user };
  if (!matches) return { ok: false, reason: 'bad_password', user: found.user };
  if (found.user.disabled) return { ok: false, reason: 'disabled', user: found.user };
  return { ok: true, user: found.user, hasSecondFactor: found.hasSecondFactor, storedHash: found.passwordHash };
}

/** Users whose password is being hashed again on this node: one new hash however many sign-ins. */
const rehashing = new Set<string>();

/**
 * A password just checked and accepted (a sign-in's password step, the account page's check; not
 * for a locked account, whose hash changing would let the time of later attempts tell a right
 * guess) is hashed again at `BCRYPT_COST` when its hash was made another way (Passwords.needsRehash),
 * in the background: nothing waits for it. The new hash is set only while `storedHash` is still
 * the stored one, so a password changed meanwhile is kept.
 */
export function rehashIfStale(deps: Pick<Deps, 'db' | 'passwords' | 'mailer'>, tenant: Tenant, userId: string, password: string, storedHash: string) {
  const key = `${tenant.id}:${userId}`;
  if (!deps.passwords.needsRehash(storedHash) || rehashing.has(key)) return;
  rehashing.add(key);
  deps.mailer.background('password.rehash', async () => {
    try {
      const next = await deps.passwords.hash(password);
      if (await replacePasswordHash(deps.db, tenant.id, userId, storedHash, next)) {
        log().info('password.rehashed', { tenant: tenant.slug, user_id: userId, from_cost: bcryptCost(storedHash), to_cost: deps.passwords.cost });
      }
    } finally {
      rehashing.delete(key);
    }
  });
}

export interface UserChanges {
  email?: string;
  name?: string | null;
  givenName?: string | null;
  familyName?: string | null;
  emailVerified?: boolean;
  disabled?: boolean;
}

/** The fields a change sets: a PATCH body's absent fields arrive as undefined. */
const changedFields = (changes: UserChanges) => Object.entries(changes).filter(([, v]) => v !== undefined).map(([k]) => k);

/**
 * Disabling a user also ends their sessions, grants and refresh tokens; `ended` hears of the sessions once committed.
 * A new email address is unverified unless the change says otherwise; `emailChanged` hears of the
 * user once committed when their address changed and is unverified (to mail a verification link).
 * `within` runs in the change's transaction, after it: what the answer shows beside the change
 * (the user's roles and groups) is read before the commit, so a read failing then fails the
 * request with nothing changed, never after a change the caller is told failed.
 */
export async function changeUser(deps: Pick<Deps, 'db'>, tenant: Tenant, userId: string, changes: UserChanges, actor: Actor, ended?: SessionsEnded, emailChanged?: (user: User) => void, within?: (trx: Trx, user: User) => Promise<void>) {
  let sessions: UserSession[] = [];
  let newAddress = false;
  try {
    const changed = await deps.db.transaction(async (trx) => {
      if (changes.email !== undefined) {
        const current = await trx('users').where({ tenant_id: tenant.id, id: userId }).forUpdate().first('email_normalized');
        newAddress = Boolean(current) && current.email_normalized !== normalizeEmail(changes.email);
        if (newAddress && changes.emailVerified === undefined) changes = { ...changes, emailVerified: false };
      }
      const user = await updateUser(trx, tenant.id, userId, changes);
      if (!user) return undefined;
      // Cached accounts (provider/account.ts) drop on every node: a disabled user is refused next.
      await announceChange(trx, tenant.id, 'users');
      await recordAudit(trx, { tenantId: tenant.id, type: 'user.updated', actor: actor.id, subject: `user:${userId}`, ip: actor.ip, userAgent: actor.userAgent, details: { fields: changedFields(changes) } });
      if (changes.disabled) {
        sessions = await findSessionsOfUser(trx, tenant.id, userId);
        const artifacts = await deleteOidcPayloadsOfAccount(trx, tenant.id, userId);
        await recordAudit(trx, { tenantId: tenant.id, type: 'session.revoked', actor: actor.id, subject: `user:${userId}`, ip: actor.ip, userAgent: actor.userAgent, details: { reason: 'user_disabled', artifacts } });
      }
      await within?.(trx, user);
      return user;
    });
    if (sessions.length) ended?.(tenant, sessions);
    if (changed && newAddress && !changed.emailVerified && !changed.disabled) emailChanged?.(changed);
    return changed;
  } catch (err) {
    if (isUniqueViolation(err)) throw new UserExistsError('a user with this email already exists');
    throw err;
  }
}

/** Deleting a user ends their sessions first; `ended` hears of them once committed. */
export async function removeUser(deps: Pick<Deps, 'db'>, tenant: Tenant, userId: string, actor: Actor, ended?: SessionsEnded) {
  let sessions: UserSession[] = [];
  const deleted = await deps.db.transaction(async (trx) => {
    sessions = await findSessionsOfUser(trx, tenant.id, userId);
    await deleteOidcPayloadsOfAccount(trx, tenant.id, userId);
    const deleted = await deleteUser(trx, tenant.id, userId);
    if (deleted) {
      await recordAudit(trx, { tenantId: tenant.id, type: 'user.deleted', actor: actor.id, subject: `user:${userId}`, ip: actor.ip, userAgent: actor.userAgent });
      await announceChange(trx, tenant.id, 'users');
    }
    return deleted;
  });
  if (deleted && sessions.length) ended?.(tenant, sessions);
  return deleted;
}

export async function setUserRoles(deps: Pick<Deps, 'db'>, tenant: Tenant, userId: string, names: string[], actor: Actor) {
  return deps.db.transaction((trx) => assignUserRoles(trx, tenant, userId, names, actor));
}

/** `by` says who set it in the audit event: an admin, or the user on the account page. */
export async function setUserPassword(deps: Pick<Deps, 'db' | 'passwords'>, tenant: Tenant, userId: string, password: string, actor: Actor, options: { by?: 'admin' | 'self' } = {}) {
  const problem = checkPasswordPolicy(password, tenant.settings.password_policy);
  if (problem) throw new PasswordPolicyError(`password ${problem}`);
  const passwordHash = await deps.passwords.hash(password);
  return deps.db.transaction(async (trx) => {
    const user = await updateUser(trx, tenant.id, userId, { passwordHash });
    if (user) {
      await recordAudit(trx, { tenantId: tenant.id, type: 'password.changed', actor: actor.id, subject: `user:${userId}`, ip: actor.ip, userAgent: actor.userAgent, details: { by: options.by ?? 'admin' } });
      // No node caches a password hash (logins always read it); the record's updated_at moved.
      await announceChange(trx, tenant.id, 'users');
    }
    return user;
  });
}
