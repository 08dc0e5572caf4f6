import { findUserById } from '../../domain/users/users.queries.js';
import { sendVerificationMail } from '../../mail/verification.js';
import type { Pending, StepContext } from '../flow.js';
import { completeLogin } from '../policy.js';
import { text } from '../../views/text/index.js';

/**
 * DESIGN.md `require_verified_email`: an unverified user cannot finish the login. The page waits
 * for the mailed link (opened in any tab), sends it again on request, and goes on once verified.
 */
export function renderVerifyEmail(sc: StepContext, extra: { message?: string; error?: string; status?: number } = {}) {
  sc.render('verify-email', {
    title: text.verifyEmail.title,
    action: `${sc.base}/verify-email`,
    abort: `${sc.base}/abort`,
    message: extra.message,
    error: extra.error,
  }, extra.status);
}

export async function submitVerifyEmail(sc: StepContext, pending: Pending) {
  const user = pending.accountId ? await findUserById(sc.deps.db, sc.tenant.id, pending.accountId) : undefined;
  if ((sc.ctx.request as { body?: { resend?: string } }).body?.resend) {
    // Rate limited per address inside; the answer is the same whether a mail went out or not.
    if (user && !user.emailVerified) await sendVerificationMail(sc.deps, sc.tenant, user, 'resend');
    return renderVerifyEmail(sc, { message: text.verifyEmail.resent });
  }
  if (!user?.emailVerified) return renderVerifyEmail(sc, { error: text.verifyEmail.notYet, status: 400 });
  await completeLogin(sc, user.id, pending.amr);
}
