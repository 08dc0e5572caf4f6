import { recordAuditOrKeep } from '../audit/outbox.js';
import { recordAuditNow } from '../audit/record.js';
import { rehashIfStale, verifyPassword } from '../domain/users/users.service.js';
import { Lockout } from '../security/lockout.js';
import { field, type Account } from './page.js';
import { text } from '../views/text/index.js';

/** A sign-in this recent (auth_time) is proof enough for a change to the factors. */
export const FRESH_SIGN_IN_SECONDS = 5 * 60;
export const TOO_MANY_ATTEMPTS = text.common.tooManyAttempts;
export const WRONG_PASSWORD = text.account.wrongPassword;

export const isFresh = (account: Account) => Date.now() / 1000 - account.cookie.authTime <= FRESH_SIGN_IN_SECONDS;

/** `rehash`: the new hash a `replacing` check held back (nothing when none is due). */
export type Proof = { ok: true; rehash(): void } | { ok: false; error: string; status: number };

const NOTHING_TO_REHASH = () => undefined;

/**
 * The current password, checked as a login checks it: the attempt counts against the tenant's
 * login rate limits first, a locked account is refused as a wrong password is, and a wrong password
 * counts toward the lockout (whoever holds a stolen account cookie cannot guess it at leisure).
 * A password proved here whose hash was made at another cost is hashed again at BCRYPT_COST, as at
 * sign-in, unless the caller is about to replace it (`replacing`: the password change makes the new
 * hash itself, and calls the proof's `rehash` only when the new password is refused).
 */
export async function checkCurrentPassword(account: Account, purpose: string, replacing = false): Promise<Proof> {
  const { deps, tenant, user, ctx } = account;
  const verdict = await deps.rateLimits.loginAttempt(tenant.id, tenant.settings.rate_limits, { ip: ctx.ip, account: `user:${user.id}` });
  if (!verdict.allowed) {
    ctx.set('Retry-After', String(verdict.retryAfterSeconds));
    return { ok: false, error: TOO_MANY_ATTEMPTS, status: 429 };
  }
  const lockout = new Lockout(deps.kv, deps.kvPrefix);
  const password = field(ctx, 'current_password', 1024);
  const result = await verifyPassword(deps, tenant, user.email, password);
  const locked = (await lockout.state(tenant.id, user.id)).locked;
  if (result.ok && result.user.id === user.id && !locked) {
    const rehash = () => rehashIfStale(deps, tenant, user.id, password, result.storedHash);
    if (!replacing) rehash();
    return { ok: true, rehash: replacing ? rehash : NOTHING_TO_REHASH };
  }
  const reason = locked ? 'locked' : result.ok ? 'other_user' : result.reason;
  await recordAuditNow(deps.db, { tenantId: tenant.id, type: 'reauth.failed', actor: account.actor.id, subject: `user:${user.id}`, ip: account.actor.ip, userAgent: account.actor.userAgent, outcome: 'failure', details: { reason, purpose } });
  if (reason === 'bad_password' && (await lockout.recordFailure(tenant.id, user.id, tenant.settings.lockout))) {
    await recordAuditOrKeep(deps, { tenantId: tenant.id, type: 'account.locked', actor: 'system', subject: `user:${user.id}`, ip: account.actor.ip, userAgent: account.actor.userAgent, details: { duration_seconds: tenant.settings.lockout.duration_seconds } });
  }
  return { ok: false, error: WRONG_PASSWORD, status: 401 };
}

/**
 * DESIGN.md: each change to the factors asks for a fresh proof. A sign-in within the last
 * FRESH_SIGN_IN_SECONDS is one; otherwise the form's `current_password`. A user without a password
 * (federated) signs in again instead (`${base}/login?fresh=1`, prompt=login).
 */
export async function proveFresh(account: Account, purpose: string): Promise<Proof> {
  if (isFresh(account)) return { ok: true, rehash: NOTHING_TO_REHASH };
  return checkCurrentPassword(account, purpose);
}
