import { revokeOtherSessions } from '../../domain/sessions/sessions.service.js';
import type { SessionsEnded } from '../../domain/sessions/sessions.types.js';
import { PasswordPolicyError, setUserPassword } from '../../domain/users/users.service.js';
import { checkCurrentPassword } from '../fresh-proof.js';
import { field, type Account } from '../page.js';
import { text } from '../../views/text/index.js';

export function renderPassword(account: Account, extra: { notice?: string; error?: string; status?: number } = {}) {
  account.render('account-password', { title: text.account.password.title, section: 'password', minLength: account.tenant.settings.password_policy.min_length, ...extra }, extra.status);
}

/**
 * Asks the current password (always: the change locks out whoever does not know it), applies the
 * tenant's password policy (setUserPassword), audits password.changed with by: 'self'. This
 * browser's session stays; every other session of the user ends with its refresh tokens, since
 * whoever else knew the old password is the reason to change it.
 */
export async function submitPassword(account: Account, ended: SessionsEnded) {
  const next = field(account.ctx, 'new_password', 1025);
  const proof = await checkCurrentPassword(account, 'password_change', true);
  if (!proof.ok) return renderPassword(account, { error: proof.error, status: proof.status });
  try {
    await setUserPassword(account.deps, account.tenant, account.user.id, next, account.actor, { by: 'self' });
  } catch (err) {
    if (!(err instanceof PasswordPolicyError)) throw err;
    proof.rehash(); // the current password stays: its hash is made again at BCRYPT_COST if due
    return renderPassword(account, { error: `The new ${err.message}.`, status: 400 });
  }
  const others = await revokeOtherSessions(account.deps, account.tenant, account.user.id, account.session.id, account.actor, 'password_changed', ended);
  renderPassword(account, { notice: others ? `Your password was changed, and your ${others === 1 ? 'other session was' : `${others} other sessions were`} signed out.` : 'Your password was changed.' });
}
