import QRCode from 'qrcode';
import { recordAuditNow } from '../../audit/record.js';
import { beginTotpEnrollment, confirmTotpEnrollment, openTotpEnrollment } from '../../domain/mfa/mfa.service.js';
import { findUserById } from '../../domain/users/users.queries.js';
import { Lockout } from '../../security/lockout.js';
import { totpSeedAad } from '../../security/sealed-columns.js';
import { field, type Pending, type StepContext } from '../flow.js';
import { throttleAttempt } from '../throttle.js';
import { countFailure } from './password.js';
import { text } from '../../views/text/index.js';

/** Shows the seed as a QR code (an inline image: no outside fetch) and as base32 text. */
export async function renderEnroll(sc: StepContext, pending: Pending, extra: { error?: string; status?: number } = {}) {
  const user = await findUserById(sc.deps.db, sc.tenant.id, pending.accountId);
  if (!user) throw new Error('user vanished during enrollment');
  const sealed = pending.totpSeal && opensHere(sc, pending.totpSeal, user.id) ? pending.totpSeal : undefined;
  const enrollment = sealed ? openTotpEnrollment(sc.deps, sc.tenant, user, sealed) : beginTotpEnrollment(sc.deps, sc.tenant, user);
  if (!sealed) await sc.savePending({ ...pending, totpSeal: enrollment.sealed });
  sc.render('mfa-enroll', {
    title: text.enroll.title,
    qr: await QRCode.toDataURL(enrollment.uri, { margin: 1, width: 220 }),
    secret: enrollment.secret,
    action: `${sc.base}/enroll`,
    abort: `${sc.base}/abort`,
    // A seed sealed before a master-key rotation was replaced: say so, or a code from the old entry fails.
    error: extra.error ?? (pending.totpSeal && !sealed ? text.enroll.renewed : undefined),
  }, extra.status);
}

const opensHere = (sc: StepContext, sealed: string, userId: string) => sc.deps.secrets.opens(sealed, totpSeedAad(sc.tenant.id, userId));

/** The first code proves the seed; the recovery codes are shown once, in this answer only. */
export async function submitEnroll(sc: StepContext, pending: Pending) {
  const userId = pending.accountId;
  const throttled = await throttleAttempt(sc, { userId });
  if (throttled) return renderEnroll(sc, pending, { error: throttled, status: 429 });
  // A seed sealed before a master-key rotation no longer opens: a new one to scan, not a 503 that retrying never ends.
  if (pending.totpSeal && !opensHere(sc, pending.totpSeal, userId)) return renderEnroll(sc, pending, { error: text.enroll.renewed, status: 400 });
  const locked = (await new Lockout(sc.deps.kv, sc.deps.kvPrefix).state(sc.tenant.id, userId)).locked;
  const codes = pending.totpSeal && !locked
    ? await confirmTotpEnrollment(sc.deps, sc.tenant, userId, pending.totpSeal, field(sc.ctx, 'code', 64).replace(/\s/g, ''), { id: `user:${userId}`, ip: sc.audit.ip, userAgent: sc.audit.userAgent })
    : undefined;
  if (!codes) {
    await recordAuditNow(sc.deps.db, { ...sc.audit, type: 'mfa.failed', actor: `user:${userId}`, subject: `user:${userId}`, outcome: 'failure', details: { reason: locked ? 'locked' : 'enrollment_code_mismatch' } });
    if (!locked) await countFailure(sc, userId);
    return renderEnroll(sc, pending, { error: text.enroll.wrongCode, status: 401 });
  }
  const next: Pending = { accountId: userId, amr: [...new Set([...pending.amr, 'otp', 'mfa'])], step: 'recovery_codes' };
  await sc.savePending(next);
  renderRecoveryCodes(sc, next, codes);
}

/** The recovery sheet (right after enrollment) or how many codes remain (after one was used). */
export function renderRecoveryCodes(sc: StepContext, pending: Pending, codes?: string[]) {
  sc.render('recovery-codes', {
    title: codes ? 'Save your recovery codes' : 'Recovery code used',
    codes,
    remaining: pending.remaining,
    action: `${sc.base}/continue`,
  });
}
