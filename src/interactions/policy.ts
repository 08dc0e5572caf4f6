import { recordAuditNow } from '../audit/record.js';
import { hasSecondFactor } from '../domain/mfa/mfa.service.js';
import { findUserById } from '../domain/users/users.queries.js';
import { log } from '../log/logger.js';
import { observer } from '../log/observe.js';
import { asksLoa2, LOA1, LOA2, STEP_UP_REASON } from '../provider/config/policy.js';
import { Lockout } from '../security/lockout.js';
import type { Pending, StepContext } from './flow.js';

/**
 * What the step that proved the credential already read of the user in this request, so it is
 * not read again (the password step has all three); what is left out is read here. Never kept
 * on the interaction: a later step reads afresh.
 */
export interface KnownOfUser {
  hasSecondFactor?: boolean;
  emailVerified?: boolean;
  /** Whether the lockout has failures on record for the account (Lockout.state). */
  failuresOnRecord?: boolean;
}

/**
 * The one place that decides what follows a proven credential: the second factor when the user has
 * one; enrollment when the tenant or the client (acr_values) needs one and the user has none; else
 * the login is complete.
 */
export async function nextStep(sc: StepContext, accountId: string, amr: string[], known: KnownOfUser = {}): Promise<void> {
  const proven = amr.includes('mfa');
  if (!proven) {
    if (known.hasSecondFactor ?? (await hasSecondFactor(sc.deps, sc.tenant, accountId))) return sc.savePending({ accountId, amr, step: 'second_factor' }).then(() => redirectToStep(sc));
    if (sc.tenant.settings.mfa_required || asksLoa2(sc.interaction.params.acr_values)) {
      return sc.savePending({ accountId, amr, step: 'enroll' }).then(() => redirectToStep(sc));
    }
  }
  return completeUnlessUnverified(sc, accountId, amr, known);
}

/** With `require_verified_email`, an unverified user waits on the verification page (no tokens). */
export async function completeUnlessUnverified(sc: StepContext, accountId: string, amr: string[], known: KnownOfUser = {}) {
  if (sc.tenant.settings.require_verified_email && !(known.emailVerified ?? (await findUserById(sc.deps.db, sc.tenant.id, accountId))?.emailVerified)) {
    await sc.savePending({ accountId, amr, step: 'verify_email' });
    return redirectToStep(sc);
  }
  return completeLogin(sc, accountId, amr, known);
}

export function redirectToStep(sc: StepContext) {
  sc.ctx.status = 303;
  sc.ctx.redirect(sc.base);
}

/** Ends the login: failures on record are cleared, the event audited, the session made. */
export async function completeLogin(sc: StepContext, accountId: string, amr: string[], known: KnownOfUser = {}) {
  const lockout = new Lockout(sc.deps.kv, sc.deps.kvPrefix);
  // Failures are cleared only now: a correct password must not reset the count of wrong codes.
  if (known.failuresOnRecord ?? (await lockout.state(sc.tenant.id, accountId)).failures) await lockout.clear(sc.tenant.id, accountId);
  const acr = amr.includes('mfa') ? LOA2 : LOA1;
  await recordAuditNow(sc.deps.db, { ...sc.audit, type: 'login.succeeded', actor: `user:${accountId}`, subject: `user:${accountId}`, details: { client_id: sc.interaction.params.client_id, amr, acr } });
  log().info('login.succeeded', { user_id: accountId, acr });
  observer()?.login(sc.tenant.slug, 'succeeded');
  // prompt=create is resolved by any completed login, a sign-up's or (an existing user's) a sign-in's.
  const created = String(sc.interaction.params.prompt ?? '').split(' ').includes('create') ? { create: {} } : {};
  await sc.finish({ login: { accountId, amr, acr }, ...created });
}

/**
 * A step-up (the session's user, asked for a second factor they have): the password is not asked
 * again, and the methods of the session carry over. A user without a factor signs in with the
 * password in this interaction before enrolling one: a session alone never binds a new factor.
 */
export async function stepUpOf(sc: StepContext): Promise<Pick<Pending, 'accountId' | 'amr'> | undefined> {
  const { prompt, session } = sc.interaction;
  if (prompt.name !== 'login' || !session?.accountId) return undefined;
  if (prompt.reasons.length !== 1 || prompt.reasons[0] !== STEP_UP_REASON) return undefined;
  if (!(await hasSecondFactor(sc.deps, sc.tenant, session.accountId))) return undefined;
  const amr = Array.isArray(session.amr) && session.amr.length ? session.amr.map(String) : ['pwd'];
  return { accountId: session.accountId, amr };
}
