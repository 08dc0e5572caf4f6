import { recordAudit } from '../audit/record.js';
import { lockTenantRow } from '../db/knex.js';
import type { Deps } from '../deps.js';
import { announceChange } from '../domain/changes.js';
import { issuerOf, type Tenant } from '../domain/tenants/tenants.types.js';
import { findUserById, updateUser } from '../domain/users/users.queries.js';
import { normalizeEmail } from '../domain/users/users.types.js';
import { log } from '../log/logger.js';
import { text } from '../views/text/index.js';
import type { Requester } from './password-reset.js';
import { consumeMailToken, deleteMailTokensOfUser, findUsableMailToken, insertMailToken, MAIL_TOKEN_TTL_SECONDS } from './tokens.js';

export type VerificationReason = 'sign_up' | 'email_changed' | 'resend';

/**
 * Mails a link to `${issuer}/email/verify?token=…` that confirms `user.email` (valid 24 hours,
 * once). Counts against the tenant's `mail_per_address` limit: over it, nothing is sent (logged
 * `mail.rate_limited`). Resolves once the token is stored; the mail itself goes out after that in
 * the background (Mailer.background), so SMTP never holds up the caller. Never rejects: a failure
 * is logged and the user can ask again. Call it after the change that needs it has committed.
 */
export async function sendVerificationMail(deps: Deps, tenant: Tenant, user: { id: string; email: string }, reason: VerificationReason): Promise<void> {
  try {
    const normalized = normalizeEmail(user.email);
    const verdict = await deps.rateLimits.consume(tenant.id, 'mail_per_address', [normalized], tenant.settings.rate_limits.mail_per_address);
    if (!verdict.allowed) {
      log().info('mail.rate_limited', { template: 'verify-email', user_id: user.id, reason });
      return;
    }
    const token = await insertMailToken(deps.db, deps.secrets, { tenantId: tenant.id, userId: user.id, emailNormalized: normalized }, 'verify_email');
    const link = `${issuerOf(deps.config.publicUrl, tenant.slug)}/email/verify?token=${encodeURIComponent(token)}`;
    deps.mailer.background('mail.verification', async () => {
      await deps.mailer.send({
        to: user.email,
        subject: reason === 'email_changed' ? text.mail.verifyNewSubject(tenant.name) : text.mail.verifySubject(tenant.name),
        template: 'verify-email',
        data: { tenantName: tenant.name, email: user.email, link, reason, hours: MAIL_TOKEN_TTL_SECONDS.verify_email / 3600 },
      });
    });
  } catch (err) {
    log().warn('mail.failed', { template: 'verify-email', user_id: user.id, reason, error: { name: (err as Error)?.name, message: (err as Error)?.message } });
  }
}

/** The address a verification link would confirm, while it may still be used; uses nothing. */
export async function verificationLinkAddress(deps: Pick<Deps, 'db' | 'secrets'>, tenant: Tenant, token: string) {
  return (await findUsableMailToken(deps.db, deps.secrets, tenant.id, 'verify_email', token))?.emailNormalized;
}

/**
 * Uses a verification link: the user's address becomes verified, if it is still the address the
 * link was mailed to. Of two racing uses one wins. Undefined when the link is unusable.
 */
export async function verifyEmail(deps: Pick<Deps, 'db' | 'secrets'>, tenant: Tenant, token: string, requester: Requester) {
  return deps.db.transaction(async (trx) => {
    const used = await consumeMailToken(trx, deps.secrets, tenant.id, 'verify_email', token);
    if (!used) return undefined;
    // Locked before it is read: an address changed meanwhile (users.service changeUser locks the
    // row too) is compared as committed, never marked verified by a link for the old one.
    await lockTenantRow(trx, 'users', tenant.id, { id: used.userId });
    const current = await findUserById(trx, tenant.id, used.userId);
    if (!current || normalizeEmail(current.email) !== used.emailNormalized) return undefined;
    await deleteMailTokensOfUser(trx, tenant.id, current.id, 'verify_email');
    if (current.emailVerified) return current;
    const user = await updateUser(trx, tenant.id, current.id, { emailVerified: true });
    await recordAudit(trx, { tenantId: tenant.id, type: 'user.email_verified', actor: `user:${current.id}`, subject: `user:${current.id}`, ip: requester.ip, userAgent: requester.userAgent, details: { by: 'link' } });
    // Cached accounts drop on every node: the next ID token says email_verified: true.
    await announceChange(trx, tenant.id, 'users');
    return user;
  });
}
