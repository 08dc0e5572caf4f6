import { recordAuditNow } from '../../audit/record.js';
import { findUserCredentialsByEmail } from '../../domain/users/users.queries.js';
import { createUser, PasswordPolicyError, UserExistsError } from '../../domain/users/users.service.js';
import { log } from '../../log/logger.js';
import { sendVerificationMail } from '../../mail/verification.js';
import { field, type StepContext } from '../flow.js';
import { nextStep, redirectToStep } from '../policy.js';
import { throttleAttempt } from '../throttle.js';
import { text } from '../../views/text/index.js';

export function renderSignUp(sc: StepContext, extra: { error?: string; email?: string; name?: string; status?: number } = {}) {
  sc.render('signup', {
    title: text.signUp.title,
    action: `${sc.base}/signup`,
    login: `${sc.base}/`,
    minLength: sc.tenant.settings.password_policy.min_length,
    email: extra.email ?? '',
    name: extra.name ?? '',
    error: extra.error,
  }, extra.status);
}

/** Only where the tenant lets users sign up (DESIGN.md `registration.enabled`). */
export const signUpOpen = (sc: StepContext) => sc.tenant.settings.registration.enabled;

/**
 * A new account, then on into the same authorization request: a verification mail is sent, and
 * the policy decides the rest (verified email, second factor, consent) as for any login.
 * With `require_verified_email`, an address that has an account already gets the same
 * "check your mail" page a new one gets, so sign-up does not tell who has an account.
 */
export async function submitSignUp(sc: StepContext) {
  const email = field(sc.ctx, 'email', 320).trim();
  const password = field(sc.ctx, 'password', 1024);
  const name = field(sc.ctx, 'name', 200).trim();
  const throttled = await throttleAttempt(sc, { email });
  if (throttled) return renderSignUp(sc, { error: throttled, email, name, status: 429 });
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return renderSignUp(sc, { error: text.signUp.invalidEmail, email, name, status: 400 });
  const actor = { id: 'self-service', ip: sc.audit.ip, userAgent: sc.audit.userAgent };
  try {
    const user = await createUser(sc.deps, sc.tenant, { email, password, name: name || null, emailVerified: false }, actor);
    log().info('user.signed_up', { user_id: user.id });
    await sendVerificationMail(sc.deps, sc.tenant, user, 'sign_up');
    return nextStep(sc, user.id, ['pwd']);
  } catch (err) {
    if (err instanceof PasswordPolicyError) return renderSignUp(sc, { error: `The password ${err.message.replace(/^password /, '')}.`, email, name, status: 400 });
    if (!(err instanceof UserExistsError)) throw err;
  }
  // The address has an account. The attempt is audited for that account; the page does not say so
  // where the tenant requires verification (the same page as after a real sign-up).
  const existing = await findUserCredentialsByEmail(sc.deps.db, sc.tenant.id, email);
  await recordAuditNow(sc.deps.db, { ...sc.audit, type: 'signup.refused', actor: null, subject: existing ? `user:${existing.user.id}` : null, outcome: 'failure', details: { reason: 'email_taken' } });
  if (sc.tenant.settings.require_verified_email) {
    // No account for this flow: the page waits for a verification that never comes to this browser.
    await sc.savePending({ accountId: '', amr: [], step: 'verify_email' });
    return redirectToStep(sc);
  }
  return renderSignUp(sc, { error: text.signUp.cannotUse, email, name, status: 409 });
}
