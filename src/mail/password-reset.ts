import { recordAudit } from '../audit/record.js';
import { canNameRow, lockTenantRow } from '../db/knex.js';
import type { Deps } from '../deps.js';
import { announceChange } from '../domain/changes.js';
import { findSessionsOfUser } from '../domain/sessions/sessions.queries.js';
import type { SessionsEnded, UserSession } from '../domain/sessions/sessions.types.js';
import { issuerOf, type Tenant } from '../domain/tenants/tenants.types.js';
import { deleteOidcPayloadsOfAccount, findUserById, findUserCredentialsByEmail, updateUser } from '../domain/users/users.queries.js';
import { PasswordPolicyError } from '../domain/users/users.service.js';
import { normalizeEmail } from '../domain/users/users.types.js';
import { log } from '../log/logger.js';
import { text } from '../views/text/index.js';
import { Lockout } from '../security/lockout.js';
import { checkPasswordPolicy } from '../security/passwords.js';
import { consumeMailToken, deleteMailTokensOfUser, findUsableMailToken, insertMailToken, MAIL_TOKEN_TTL_SECONDS } from './tokens.js';

/** Where a request came from, for the audit trail (nobody is signed in on these pages). */
export interface Requester {
  ip: string | null;
  userAgent: string | null;
}

/**
 * "Forgot password" for an address (DESIGN.md "Self-service"). Meant to run after the page has
 * answered (Mailer.background): the answer is the same whether the address is known, and nothing
 * here decides how long it took. Every request counts against `mail_per_address`, known or not.
 * A known, enabled user gets a link valid for 30 minutes; the request is audited for them.
 */
export async function requestPasswordReset(deps: Deps, tenant: Tenant, email: string, requester: Requester): Promise<void> {
  const normalized = normalizeEmail(email);
  if (!canNameRow(normalized)) return;
  const verdict = await deps.rateLimits.consume(tenant.id, 'mail_per_address', [normalized], tenant.settings.rate_limits.mail_per_address);
  if (!verdict.allowed) {
    log().info('mail.rate_limited', { template: 'password-reset' });
    return;
  }
  const found = await findUserCredentialsByEmail(deps.db, tenant.id, normalized);
  if (!found || found.user.disabled) {
    log().info('password.reset_not_sent', { reason: found ? 'disabled' : 'unknown_address' });
    return;
  }
  const user = found.user;
  const token = await deps.db.transaction(async (trx) => {
    const issued = await insertMailToken(trx, deps.secrets, { tenantId: tenant.id, userId: user.id, emailNormalized: normalized }, 'password_reset');
    await recordAudit(trx, { tenantId: tenant.id, type: 'password.reset_requested', actor: null, subject: `user:${user.id}`, ip: requester.ip, userAgent: requester.userAgent });
    return issued;
  });
  await deps.mailer.send({
    to: user.email,
    subject: text.mail.resetSubject(tenant.name),
    template: 'password-reset',
    data: { tenantName: tenant.name, email: user.email, link: resetLink(deps, tenant, token), minutes: MAIL_TOKEN_TTL_SECONDS.password_reset / 60 },
  });
}

export const resetLink = (deps: Pick<Deps, 'config'>, tenant: Tenant, token: string) =>
  `${issuerOf(deps.config.publicUrl, tenant.slug)}/password/reset?token=${encodeURIComponent(token)}`;

/** Whether a reset link may still be used (the form is shown only then); uses nothing. */
export async function resetLinkUsable(deps: Pick<Deps, 'db' | 'secrets'>, tenant: Tenant, token: string) {
  return Boolean(await findUsableMailToken(deps.db, deps.secrets, tenant.id, 'password_reset', token));
}

/**
 * Sets a new password through a reset link: the tenant's password policy applies (throws
 * PasswordPolicyError), the link is used up (of two racing submissions one wins), and every
 * session, grant and refresh token of the user ends, as does a lockout. The mailbox has been
 * proven, so an unverified address becomes verified. Undefined when the link is unusable.
 */
export async function resetPassword(deps: Deps, tenant: Tenant, token: string, password: string, requester: Requester, ended?: SessionsEnded) {
  const problem = checkPasswordPolicy(password, tenant.settings.password_policy);
  if (problem) throw new PasswordPolicyError(`password ${problem}`);
  // No bcrypt for a link that cannot work; the use itself is decided below, atomically.
  if (!(await resetLinkUsable(deps, tenant, token))) return undefined;
  const passwordHash = await deps.passwords.hash(password);
  let sessions: UserSession[] = [];
  const user = await deps.db.transaction(async (trx) => {
    const used = await consumeMailToken(trx, deps.secrets, tenant.id, 'password_reset', token);
    if (!used) return undefined;
    // Locked before it is read: an address changed meanwhile (users.service changeUser locks the
    // row too) is compared as committed, never marked verified by a link for the old one.
    await lockTenantRow(trx, 'users', tenant.id, { id: used.userId });
    const current = await findUserById(trx, tenant.id, used.userId);
    // A link mailed to an address the account no longer has does nothing.
    if (!current || current.disabled || normalizeEmail(current.email) !== used.emailNormalized) return undefined;
    const audit = { tenantId: tenant.id, actor: `user:${current.id}`, subject: `user:${current.id}` as const, ip: requester.ip, userAgent: requester.userAgent };
    const changed = await updateUser(trx, tenant.id, current.id, { passwordHash, ...(current.emailVerified ? {} : { emailVerified: true }) });
    await deleteMailTokensOfUser(trx, tenant.id, current.id, 'password_reset');
    sessions = await findSessionsOfUser(trx, tenant.id, current.id);
    const artifacts = await deleteOidcPayloadsOfAccount(trx, tenant.id, current.id);
    await recordAudit(trx, { ...audit, type: 'password.reset', details: { sessions_ended: sessions.length } });
    if (artifacts > 0) await recordAudit(trx, { ...audit, type: 'session.revoked', details: { reason: 'password_reset', sessions: sessions.map((s) => s.id), artifacts } });
    if (!current.emailVerified) await recordAudit(trx, { ...audit, type: 'user.email_verified', details: { by: 'password_reset' } });
    await announceChange(trx, tenant.id, 'users');
    return changed;
  });
  if (!user) return undefined;
  try {
    await new Lockout(deps.kv, deps.kvPrefix).clear(tenant.id, user.id);
  } catch (err) {
    // The password changed; a lockout left by a store outage runs out by itself.
    log().warn('lockout.clear_failed', { user_id: user.id, error: { name: (err as Error)?.name, message: (err as Error)?.message } });
  }
  if (sessions.length) ended?.(tenant, sessions);
  return user;
}
