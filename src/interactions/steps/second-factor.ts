import { recordAuditNow } from '../../audit/record.js';
import { verifySecondFactor } from '../../domain/mfa/mfa.service.js';
import { log } from '../../log/logger.js';
import { Lockout } from '../../security/lockout.js';
import { field, type Pending, type StepContext } from '../flow.js';
import { completeUnlessUnverified } from '../policy.js';
import { observer } from '../../log/observe.js';
import { throttleAttempt } from '../throttle.js';
import { countFailure } from './password.js';
import { text } from '../../views/text/index.js';

const GENERIC_CODE_ERROR = text.mfaCode.incorrect;

export function renderSecondFactor(sc: StepContext, extra: { error?: string; status?: number } = {}) {
  sc.render('mfa-code', { title: text.mfaCode.title, action: `${sc.base}/mfa`, abort: `${sc.base}/abort`, error: extra.error }, extra.status);
}

/**
 * The code form (a TOTP code or a recovery code). The lockout is checked on every attempt, and
 * every wrong code counts toward it, as a wrong password does.
 */
export async function submitSecondFactor(sc: StepContext, pending: Pending) {
  const { deps, tenant } = sc;
  const userId = pending.accountId;
  const throttled = await throttleAttempt(sc, { userId });
  if (throttled) return renderSecondFactor(sc, { error: throttled, status: 429 });
  if ((await new Lockout(deps.kv, deps.kvPrefix).state(tenant.id, userId)).locked) {
    await recordAuditNow(deps.db, { ...sc.audit, type: 'mfa.failed', actor: `user:${userId}`, subject: `user:${userId}`, outcome: 'failure', details: { reason: 'locked' } });
    observer()?.login(tenant.slug, 'failed');
    return renderSecondFactor(sc, { error: GENERIC_CODE_ERROR, status: 401 });
  }
  const result = await verifySecondFactor(deps, tenant, userId, field(sc.ctx, 'code', 64));
  if (!result.ok) {
    log().info('mfa.failed', { reason: result.reason, user_id: userId });
    await recordAuditNow(deps.db, { ...sc.audit, type: 'mfa.failed', actor: `user:${userId}`, subject: `user:${userId}`, outcome: 'failure', details: { reason: result.reason } });
    await countFailure(sc, userId);
    observer()?.login(tenant.slug, 'failed');
    return renderSecondFactor(sc, { error: GENERIC_CODE_ERROR, status: 401 });
  }
  const amr = [...new Set([...pending.amr, 'otp', 'mfa'])];
  if (result.method === 'recovery_code') {
    await recordAuditNow(deps.db, { ...sc.audit, type: 'mfa.recovery_used', actor: `user:${userId}`, subject: `user:${userId}`, details: { remaining: result.remaining } });
    // The user is told how many remain before going on (recovery_codes step, without codes).
    await sc.savePending({ accountId: userId, amr, step: 'recovery_codes', remaining: result.remaining });
    sc.ctx.status = 303;
    sc.ctx.redirect(sc.base);
    return;
  }
  await completeUnlessUnverified(sc, userId, amr);
}
