import QRCode from 'qrcode';
import { countUnusedRecoveryCodes } from '../../domain/mfa/mfa.queries.js';
import { beginTotpEnrollment, confirmTotpEnrollment, hasSecondFactor, openTotpEnrollment, removeTotp, renewRecoveryCodes } from '../../domain/mfa/mfa.service.js';
import { FRESH_SIGN_IN_SECONDS, isFresh, proveFresh, TOO_MANY_ATTEMPTS } from '../fresh-proof.js';
import { field, type Account } from '../page.js';
import { text } from '../../views/text/index.js';

/** How long the enrollment form (its sealed seed) stays good after the proof that opened it. */
const ENROLL_SECONDS = 10 * 60;
type Extra = { notice?: string; error?: string; status?: number };

export async function renderMfa(account: Account, extra: Extra = {}) {
  const { deps, tenant, user, cookie } = account;
  const enrolled = await hasSecondFactor(deps, tenant, user.id);
  account.render('account-mfa', {
    title: text.account.mfa.title, section: 'mfa', ...extra,
    enrolled,
    remaining: enrolled ? await countUnusedRecoveryCodes(deps.db, tenant.id, user.id) : 0,
    required: tenant.settings.mfa_required,
    fresh: isFresh(account),
    freshMinutes: Math.max(1, Math.ceil((cookie.authTime + FRESH_SIGN_IN_SECONDS - Date.now() / 1000) / 60)),
    signInAgain: `${account.base}/login?fresh=1&return=${encodeURIComponent(`${account.base}/mfa`)}`,
  }, extra.status);
}

/** The seed being enrolled travels in the form, sealed for this user with an expiry (secrets.ts). */
const enrollAad = (account: Account) => `account-enroll:${account.tenant.id}:${account.user.id}`;

async function renderEnroll(account: Account, sealed: string, extra: Extra = {}) {
  const { deps, tenant, user } = account;
  const enrollment = openTotpEnrollment(deps, tenant, user, sealed);
  account.render('account-mfa-enroll', {
    title: text.account.mfa.enrollTitle, section: 'mfa', ...extra,
    qr: await QRCode.toDataURL(enrollment.uri, { margin: 1, width: 220 }),
    secret: enrollment.secret,
    enrollment: deps.secrets.encrypt(JSON.stringify({ sealed, exp: Math.floor(Date.now() / 1000) + ENROLL_SECONDS }), enrollAad(account)),
  }, extra.status);
}

/** Starts an enrollment after a fresh proof: a new seed, shown once as a QR code and as text. */
export async function submitBeginEnroll(account: Account) {
  if (await hasSecondFactor(account.deps, account.tenant, account.user.id)) return renderMfa(account, { error: text.account.mfa.alreadyOn, status: 409 });
  const proof = await proveFresh(account, 'mfa_enroll');
  if (!proof.ok) return renderMfa(account, { error: proof.error, status: proof.status });
  await renderEnroll(account, beginTotpEnrollment(account.deps, account.tenant, account.user).sealed);
}

/** The first code proves the seed; the recovery codes are shown once, in this answer only. */
export async function submitConfirmEnroll(account: Account) {
  const { deps, tenant, user, ctx } = account;
  let sealed: string | undefined;
  try {
    const envelope = JSON.parse(deps.secrets.decrypt(field(ctx, 'enrollment', 4096), enrollAad(account))) as { sealed: string; exp: number };
    if (envelope.exp > Date.now() / 1000) sealed = envelope.sealed;
  } catch {
    sealed = undefined;
  }
  if (!sealed) return renderMfa(account, { error: text.account.mfa.setupExpired, status: 400 });
  const verdict = await deps.rateLimits.loginAttempt(tenant.id, tenant.settings.rate_limits, { ip: ctx.ip, account: `user:${user.id}` });
  if (!verdict.allowed) {
    ctx.set('Retry-After', String(verdict.retryAfterSeconds));
    return renderEnroll(account, sealed, { error: TOO_MANY_ATTEMPTS, status: 429 });
  }
  const codes = await confirmTotpEnrollment(deps, tenant, user.id, sealed, field(ctx, 'code', 64).replace(/\s/g, ''), account.actor);
  if (!codes) {
    if (await hasSecondFactor(deps, tenant, user.id)) return renderMfa(account, { error: text.account.mfa.isOn, status: 409 });
    return renderEnroll(account, sealed, { error: text.enroll.wrongCode, status: 401 });
  }
  renderRecoveryCodes(account, codes, 'Two-step verification is on.');
}

function renderRecoveryCodes(account: Account, codes: string[], notice: string) {
  account.render('account-recovery-codes', { title: text.account.mfa.recoveryTitle, section: 'mfa', codes, notice });
}

/** Removes the TOTP factor and its recovery codes after a fresh proof (audited mfa.removed). */
export async function submitRemove(account: Account) {
  if (account.tenant.settings.mfa_required) {
    return renderMfa(account, { error: text.account.mfa.required, status: 409 });
  }
  const proof = await proveFresh(account, 'mfa_remove');
  if (!proof.ok) return renderMfa(account, { error: proof.error, status: proof.status });
  const removed = await removeTotp(account.deps, account.tenant, account.user.id, account.actor);
  await renderMfa(account, removed ? { notice: text.account.mfa.turnedOff } : { error: text.account.mfa.wasNotOn, status: 409 });
}

/** A new sheet of recovery codes after a fresh proof; the old sheet stops working (audited). */
export async function submitRenewRecovery(account: Account) {
  if (!(await hasSecondFactor(account.deps, account.tenant, account.user.id))) return renderMfa(account, { error: text.account.mfa.turnOnFirst, status: 409 });
  const proof = await proveFresh(account, 'mfa_recovery_renew');
  if (!proof.ok) return renderMfa(account, { error: proof.error, status: proof.status });
  renderRecoveryCodes(account, await renewRecoveryCodes(account.deps, account.tenant, account.user.id, account.actor), 'New recovery codes were made; the old ones no longer work.');
}
