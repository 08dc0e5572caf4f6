import { normalizeEmail } from '../domain/users/users.types.js';
import { observer } from '../log/observe.js';
import type { StepContext } from './flow.js';
import { text } from '../views/text/index.js';

export const TOO_MANY_ATTEMPTS = text.common.tooManyAttempts;

/**
 * Rate limits of the password and code forms (DESIGN.md `rate_limits.login_per_ip`,
 * `login_per_account`): every attempt counts, before its credential is checked. The account is the
 * typed email on the password form and the user on the code forms. Over a limit the page answers
 * 429 with Retry-After and the same message whether or not the account exists.
 */
export async function throttleAttempt(sc: StepContext, account: { email: string } | { userId: string }): Promise<string | undefined> {
  const key = 'email' in account ? (account.email ? `email:${normalizeEmail(account.email)}` : undefined) : `user:${account.userId}`;
  const verdict = await sc.deps.rateLimits.loginAttempt(sc.tenant.id, sc.tenant.settings.rate_limits, { ip: sc.ctx.ip, account: key });
  if (verdict.allowed) return undefined;
  observer()?.login(sc.tenant.slug, 'rate_limited');
  sc.ctx.set('Retry-After', String(verdict.retryAfterSeconds));
  return TOO_MANY_ATTEMPTS;
}
